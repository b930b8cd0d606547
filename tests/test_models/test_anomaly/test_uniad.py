import io

import pytest
import torch
from mmengine.optim import OptimWrapper

from gen3d.models.anomaly import UniAD
from gen3d.registry import MODELS
from gen3d.structures import AnomalyDataSample

SIZE = 64


def tiny_uniad(**kwargs) -> UniAD:
    """Lite0 (random weights) + a 1+1-layer, 32-wide reconstruction on a 64x64 input (4x4 tokens)."""
    cfg = dict(
        type="UniAD",
        backbone=dict(type="TimmFeatureExtractor", model_name="tf_efficientnet_lite0", pretrained=False),
        reconstruction=dict(
            type="UniADReconstruction",
            hidden_dim=32,
            num_heads=4,
            num_encoder_layers=1,
            num_decoder_layers=1,
            dim_feedforward=64,
        ),
        input_size=(SIZE, SIZE),
        data_preprocessor=dict(type="ImgDataPreprocessor", mean=[127.5] * 3, std=[127.5] * 3),
    )
    cfg.update(kwargs)
    return MODELS.build(cfg)


def samples(n: int, cls_name: str = "bottle") -> list[AnomalyDataSample]:
    return [
        AnomalyDataSample(metainfo=dict(img_path=f"/data/{cls_name}/{i:03d}.png", cls_name=cls_name)) for i in range(n)
    ]


def test_tensor_mode_shapes_and_wiring():
    torch.manual_seed(0)
    model = tiny_uniad().eval()
    assert model.grid_size == (4, 4) and model.neck.out_channels == 192
    assert model.reconstruction.in_channels == 192 and model.reconstruction.neighbor_size == (3, 3)
    amap, score = model(torch.randn(2, 3, SIZE, SIZE))
    assert amap.shape == (2, 1, SIZE, SIZE) and score.shape == (2,)
    with pytest.raises(ValueError):
        model(torch.randn(2, 3, SIZE, SIZE + 16))


def test_paper_configuration_wiring():
    model = UniAD()  # EfficientNet-B4 blocks 1/5/9/21 (random weights here), 224 px
    assert model.grid_size == (14, 14) and model.neck.out_channels == 272
    assert model.reconstruction.attn_mask.shape == (196, 196) and model.reconstruction.neighbor_size == (7, 7)
    assert model.data_preprocessor.mean.flatten().tolist() == pytest.approx([123.675, 116.28, 103.53])


@pytest.mark.parametrize(
    ("size", "grid", "neighbor"), [(224, 14, 7), (256, 16, 7), (320, 20, 9), (112, 7, 5), (448, 28, 13)]
)
def test_neighbor_size_scales_with_input_size(size, grid, neighbor):
    model = tiny_uniad(input_size=(size, size)).eval()
    assert model.grid_size == (grid, grid) and model.reconstruction.neighbor_size == (neighbor, neighbor)
    # The buffer really hides a neighbor x neighbor window around an interior token, and the model runs at that size.
    mask = model.reconstruction.attn_mask
    assert mask.shape == (grid * grid, grid * grid)
    centre = (grid // 2) * grid + grid // 2
    assert int(torch.isinf(mask[centre]).sum()) == neighbor * neighbor
    with torch.no_grad():
        amap, score = model(torch.randn(1, 3, size, size))
    assert amap.shape == (1, 1, size, size) and score.shape == (1,) and bool(torch.isfinite(amap).all())


def test_frozen_backbone_stays_eval_and_gets_no_grads():
    model = tiny_uniad()
    model.train()
    assert model.reconstruction.training and not any(m.training for m in model.backbone.modules())
    model.loss(torch.randn(2, 3, SIZE, SIZE))["loss"].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.reconstruction.input_proj.weight.grad is not None


def test_loss_decreases_on_a_tiny_overfit():
    torch.manual_seed(0)
    model = tiny_uniad().train()
    optim = OptimWrapper(torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3))
    data = dict(
        inputs=[torch.randint(0, 256, (3, SIZE, SIZE), dtype=torch.uint8) for _ in range(4)], data_samples=samples(4)
    )
    losses = [model.train_step(data, optim)["loss"].item() for _ in range(30)]
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


def test_predict_fields_and_thresholds():
    torch.manual_seed(0)
    model = tiny_uniad().eval()
    inputs = torch.randn(3, 3, SIZE, SIZE)
    out = model(inputs, mode="predict")
    assert len(out) == 3 and isinstance(out[0], AnomalyDataSample)
    assert out[0].pred_score.shape == () and out[0].anomaly_map.shape == (SIZE, SIZE)
    assert "pred_label" not in out[0] and "pred_mask" not in out[0]

    ds = samples(2, "bottle") + samples(1, "carpet")
    model.thresholds = {"bottle": {"image": 0.0, "pixel": float("inf")}}
    out = model(inputs, ds, mode="predict")
    assert out[0] is ds[0]
    assert out[0].pred_label.dtype == torch.long and int(out[0].pred_label) == 1
    assert out[0].pred_mask.dtype == torch.uint8 and out[0].pred_mask.shape == (SIZE, SIZE)
    assert int(out[0].pred_mask.sum()) == 0
    assert "pred_label" not in out[2]  # no threshold for carpet
    amap, score = model(inputs)
    torch.testing.assert_close(out[1].anomaly_map, amap[1, 0])
    torch.testing.assert_close(out[1].pred_score, score[1])


def test_val_step_goes_through_the_data_preprocessor():
    model = tiny_uniad()
    data = dict(
        inputs=[torch.randint(0, 256, (3, SIZE, SIZE), dtype=torch.uint8) for _ in range(2)], data_samples=samples(2)
    )
    out = model.val_step(data)
    assert len(out) == 2 and out[0].anomaly_map.shape == (SIZE, SIZE)


@pytest.mark.parametrize("cache_cfg", [dict(type="memory", max_items=100), "disk"])
def test_cached_and_uncached_losses_are_identical(cache_cfg, tmp_path):
    if cache_cfg == "disk":
        cache_cfg = dict(type="disk", cache_dir=str(tmp_path / "cache"), max_bytes=10**8)
    torch.manual_seed(0)
    plain = tiny_uniad().train()
    cached = tiny_uniad(feature_cache=cache_cfg).train()
    cached.load_state_dict(plain.state_dict())
    inputs, ds = torch.randn(4, 3, SIZE, SIZE), samples(4)
    for epoch in range(2):  # epoch 0 fills the cache, epoch 1 reads it
        for seed, rows in ((epoch, [0, 1]), (epoch + 10, [2, 3])):
            torch.manual_seed(seed)
            expected = plain.loss(inputs[rows], [ds[i] for i in rows])["loss"]
            torch.manual_seed(seed)
            got = cached.loss(inputs[rows], [ds[i] for i in rows])["loss"]
            assert torch.equal(got, expected)
    assert (cached.feature_cache.hits, cached.feature_cache.misses) == (4, 4)


def test_cache_is_bypassed_outside_training_and_without_paths():
    model = tiny_uniad(feature_cache=dict(type="memory"))
    inputs = torch.randn(2, 3, SIZE, SIZE)
    model.train()
    model.loss(inputs)
    model.loss(inputs, [AnomalyDataSample(), AnomalyDataSample()])
    model.eval()
    model.loss(inputs, samples(2))
    model(inputs, samples(2), mode="predict")
    assert len(model.feature_cache) == 0 and model.feature_cache.misses == 0
    with pytest.raises(ValueError):
        tiny_uniad(
            feature_cache=dict(type="memory"),
            backbone=dict(type="TimmFeatureExtractor", model_name="tf_efficientnet_lite0", frozen=False),
        )


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning")
def test_onnx_export_of_the_tensor_path_matches_pytorch():
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = tiny_uniad().eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (torch.randn(2, 3, SIZE, SIZE),),
        buf,
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["anomaly_map", "pred_score"],
        dynamic_axes={"input": {0: "batch"}, "anomaly_map": {0: "batch"}, "pred_score": {0: "batch"}},
    )
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = torch.randn(batch, 3, SIZE, SIZE)
        with torch.no_grad():
            amap, score = model(x)
        got_map, got_score = session.run(None, {"input": x.numpy()})
        assert got_map.shape == (batch, 1, SIZE, SIZE) and got_score.shape == (batch,)
        assert float((torch.from_numpy(got_map) - amap).abs().max()) < 1e-4
        assert float((torch.from_numpy(got_score) - score).abs().max()) < 1e-4
