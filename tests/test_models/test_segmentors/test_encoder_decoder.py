import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from torch.nn import functional as F

from gen3d.models.segmentors import EncoderDecoder, ohem_cross_entropy
from gen3d.structures import SegDataSample

C = 3


def tiny(**kwargs) -> EncoderDecoder:
    torch.manual_seed(0)
    return EncoderDecoder(
        backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0", output_stride=16),
        decode_head=dict(type="DeepLabV3PlusHead", num_classes=C, channels=16, low_level_channels=8, **kwargs.pop(
            "head", {})),
        data_preprocessor=dict(type="ImgDataPreprocessor", mean=[127.5] * 3, std=[127.5] * 3),
        **kwargs,
    )


def _toy_batch(size: int = 64):
    """Two images whose class is the colour of each quadrant-ish region, with an ignored border."""
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(2):
        gt = torch.zeros(size, size, dtype=torch.long)
        gt[:, size // 2:] = 1
        gt[size // 4: size // 2, size // 4: size // 2] = 2
        colours = torch.tensor([[200, 30, 30], [30, 200, 30], [30, 30, 200]], dtype=torch.float)
        img = colours[gt].permute(2, 0, 1) + torch.randint(0, 30, (3, size, size), generator=gen)
        gt[:2] = 255
        sample = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        sample.gt_sem_seg = gt
        inputs.append(img.clamp(0, 255).to(torch.uint8))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_loss_decreases_on_a_tiny_overfit():
    model = tiny().train()
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=3e-3))
    data = _toy_batch()
    losses = [model.train_step(data, optim)["loss_ce"].item() for _ in range(12)]
    assert np.isfinite(losses).all()
    assert min(losses[-3:]) < 0.6 * losses[0], losses


def test_ignore_index_is_respected():
    model = tiny()
    logits = torch.randn(2, C, 8, 8, requires_grad=True)
    target = torch.randint(0, C, (2, 8, 8))
    target[:, :4] = 255
    loss = model.seg_loss(logits, target)
    valid = target != 255
    expected = F.cross_entropy(logits.permute(0, 2, 3, 1)[valid], target[valid])
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert logits.grad[:, :, :4].abs().max() == 0  # ignored pixels get no gradient
    all_ignored = model.seg_loss(logits, torch.full_like(target, 255))
    assert all_ignored.item() == 0 and all_ignored.requires_grad


def test_ohem_keeps_hard_pixels_and_min_kept():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 0] = torch.tensor([4.0, 4.0, -4.0, 0.0])  # gt prob of class 0: ~1, ~1, ~0, 0.5
    target = torch.zeros(1, 1, 4, dtype=torch.long)
    ce = F.cross_entropy(logits, target, reduction="none")[0, 0]
    torch.testing.assert_close(ohem_cross_entropy(logits, target, thresh=0.7, min_kept=1), ce[2:].mean())
    torch.testing.assert_close(ohem_cross_entropy(logits, target, thresh=0.1, min_kept=1), ce[2:3].mean())
    torch.testing.assert_close(ohem_cross_entropy(logits, target, thresh=0.1, min_kept=4), ce.mean())
    model = tiny(ohem=dict(min_kept=2))
    assert model.ohem == dict(thresh=0.7, min_kept=2)


def test_whole_and_slide_agree_when_the_crop_covers_the_image():
    model = tiny().eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        whole = model(x)
        model.test_cfg = dict(mode="slide", crop_size=(64, 64), stride=(48, 48))
        slide = model.inference(x)
    assert whole.shape == (1, C, 64, 64)
    torch.testing.assert_close(slide, whole)


@pytest.mark.parametrize("size", [(96, 80), (40, 50), (64, 129)])
def test_slide_averages_overlapping_windows(size, monkeypatch):
    model = tiny(test_cfg=dict(mode="slide", crop_size=(64, 64), stride=(40, 48))).eval()
    calls = []

    def copy_input(x):  # a "network" that copies its input: averaged windows must give the input back exactly
        calls.append(tuple(x.shape[-2:]))
        return x[:, :1].expand(-1, C, -1, -1) + 0

    monkeypatch.setattr(model, "_forward", copy_input)
    x = torch.randn(2, 3, *size)
    out = model.inference(x)
    assert out.shape == (2, C, *size)
    torch.testing.assert_close(out, x[:, :1].expand(-1, C, -1, -1))
    assert all(c == (64, 64) for c in calls)  # padded when smaller, border-aligned last window
    if size == (96, 80):
        assert len(calls) == 2 * 2


def test_real_slide_on_an_image_larger_than_the_crop():
    model = tiny(test_cfg=dict(mode="slide", crop_size=(48, 48), stride=(32, 32))).eval()
    with torch.no_grad():
        out = model.inference(torch.randn(1, 3, 80, 72))
    assert out.shape == (1, C, 80, 72) and torch.isfinite(out).all()


def test_predict_at_ori_shape_and_crops_batch_padding():
    model = tiny().eval()
    samples = [SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(96, 128))),
               SegDataSample(metainfo=dict(img_shape=(60, 62), ori_shape=(60, 62)))]
    with torch.no_grad():
        out = model.predict(torch.randn(2, 3, 64, 64), samples)
    assert out[0].seg_logits.shape == (C, 96, 128) and out[0].pred_sem_seg.shape == (96, 128)
    assert out[1].seg_logits.shape == (C, 60, 62) and out[1].pred_sem_seg.dtype == torch.long
    torch.testing.assert_close(out[1].pred_sem_seg, out[1].seg_logits.argmax(0))
    fresh = model.predict(torch.randn(1, 3, 64, 64))
    assert isinstance(fresh[0], SegDataSample) and fresh[0].pred_sem_seg.shape == (64, 64)


def test_extract_logits_and_repr_at_stride_4():
    model = tiny(head=dict(with_repr=True, repr_channels=24)).eval()
    with torch.no_grad():
        logits, rep = model.extract_logits_and_repr(torch.randn(2, 3, 65, 67))
    assert logits.shape == (2, C, 17, 17) and rep.shape == (2, 24, 17, 17)


def test_onnx_export_parity(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = tiny().eval()
    x = torch.randn(1, 3, 64, 64)
    path = tmp_path / "deeplabv3plus.onnx"
    axes = {0: "b", 2: "h", 3: "w"}
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": axes, "output": axes})
    onnx.checker.check_model(onnx.load(str(path)))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(2, 3, 64, 64), (1, 3, 96, 80)]:  # dynamic batch and size
        x2 = torch.randn(*shape)
        with torch.no_grad():
            expected = model(x2).numpy()
        got = session.run(None, {"input": x2.numpy()})[0]
        assert got.shape == (shape[0], C, *shape[2:])
        assert np.abs(got - expected).max() < 1e-4
