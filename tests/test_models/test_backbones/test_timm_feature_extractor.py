import pytest
import timm
import torch

from gen3d.models.backbones import UNIAD_OUT_BLOCKS, TimmFeatureExtractor
from gen3d.models.necks import FeatureAligner
from gen3d.registry import MODELS
from gen3d.utils.lite0_weights import lite0_weights_path


def test_efficientnet_b4_matches_uniad_paper():
    backbone = TimmFeatureExtractor("efficientnet_b4", pretrained=False)
    assert backbone.out_blocks == (1, 5, 9, 21)
    assert backbone.out_channels == [24, 32, 56, 160]
    assert backbone.out_strides == [2, 4, 8, 16]
    neck = FeatureAligner(backbone.out_channels, backbone.out_strides)
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 224, 224))
        aligned = neck(feats)
    assert [tuple(f.shape[-2:]) for f in feats] == [(112, 112), (56, 56), (28, 28), (14, 14)]
    assert aligned.shape == (1, 272, 14, 14)


def test_lite0_blocks_and_odd_input():
    backbone = MODELS.build(dict(type="TimmFeatureExtractor", model_name="tf_efficientnet_lite0"))
    assert backbone.out_blocks == UNIAD_OUT_BLOCKS["tf_efficientnet_lite0"] == (0, 2, 4, 10)
    assert backbone.out_channels == [16, 24, 40, 112]
    assert backbone.out_strides == [2, 4, 8, 16]
    with torch.no_grad():
        feats = backbone(torch.randn(2, 3, 67, 93))
    # TF "SAME" padding: ceil(size / stride) at every level.
    assert [tuple(f.shape) for f in feats] == [(2, 16, 34, 47), (2, 24, 17, 24), (2, 40, 9, 12), (2, 112, 5, 6)]


def test_taps_equal_a_walk_over_the_full_timm_model():
    torch.manual_seed(0)
    backbone = TimmFeatureExtractor("tf_efficientnet_lite0", out_blocks=[1, 6, 9])
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    missing, _ = full.load_state_dict(backbone.state_dict(), strict=False)
    assert not any(k.startswith(("conv_stem", "bn1", "blocks.0", "blocks.3.0")) for k in missing)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        expected, h = [], full.bn1(full.conv_stem(x))
        flat = [b for stage in full.blocks for b in stage]
        for n, block in enumerate(flat[:10]):
            h = block(h)
            if n in (1, 6, 9):
                expected.append(h)
        got = backbone(x)
    assert len(got) == 3
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def test_head_is_dropped():
    backbone = TimmFeatureExtractor("tf_efficientnet_lite0", out_blocks=[0, 2])
    assert not hasattr(backbone, "conv_head") and not hasattr(backbone, "classifier")
    assert len(backbone.blocks) == 2 and len(backbone.blocks[1]) == 2
    assert all(k.startswith(("conv_stem.", "bn1.", "blocks.")) for k in backbone.state_dict())


def test_frozen_stays_eval_and_gets_no_grads():
    backbone = TimmFeatureExtractor("tf_efficientnet_lite0")
    backbone.train()
    assert not any(m.training for m in backbone.modules())
    assert not any(p.requires_grad for p in backbone.parameters())
    running = backbone.bn1.running_mean.clone()
    out = backbone(torch.randn(2, 3, 32, 32))
    assert not out[-1].requires_grad
    torch.testing.assert_close(backbone.bn1.running_mean, running)


def test_unfrozen_is_trainable():
    backbone = TimmFeatureExtractor("tf_efficientnet_lite0", out_blocks=[0, 2], frozen=False)
    backbone.train()
    assert backbone.training and backbone.bn1.training
    backbone(torch.randn(2, 3, 32, 32))[-1].sum().backward()
    assert backbone.conv_stem.weight.grad is not None


def test_pretrained_from_local_files(tmp_path):
    src = TimmFeatureExtractor("tf_efficientnet_lite0", out_blocks=[0, 2])
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    path = tmp_path / "timm.pth"
    torch.save(full.state_dict(), path)
    loaded = TimmFeatureExtractor("tf_efficientnet_lite0", out_blocks=[0, 2], pretrained=str(path))
    torch.testing.assert_close(loaded.conv_stem.weight, full.conv_stem.weight)
    assert not torch.equal(loaded.conv_stem.weight, src.conv_stem.weight)
    # A lukemelas-format file is converted on the fly and gives the same weights as the 'lite0-offline' key.
    from_file = TimmFeatureExtractor("tf_efficientnet_lite0", out_blocks=[0, 2], pretrained=lite0_weights_path())
    offline = TimmFeatureExtractor("tf_efficientnet_lite0", out_blocks=[0, 2], pretrained="lite0-offline")
    for (k, a), b in zip(from_file.state_dict().items(), offline.state_dict().values()):
        assert torch.equal(a, b), k


# lukemelas (EfficientNet-PyTorch) names of timm's modules, as in the file the official UniAD code loads.
_LUKEMELAS_TOP = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1",
                  "classifier": "_fc"}
_LUKEMELAS_DS = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2",
                 "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand"}
_LUKEMELAS_IR = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
                 "conv_pwl": "_project_conv", "bn3": "_bn2", "se.conv_reduce": "_se_reduce",
                 "se.conv_expand": "_se_expand"}


def _as_lukemelas(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A timm EfficientNet's state dict under lukemelas key names, without BN ``num_batches_tracked``."""
    flat = {(s, i): n for n, (s, i) in enumerate((s, i) for s, st in enumerate(model.blocks) for i in range(len(st)))}
    out = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        module, param = key.rsplit(".", 1)
        if module.startswith("blocks."):
            _, s, i, sub = module.split(".", 3)
            block = model.blocks[int(s)][int(i)]
            table = _LUKEMELAS_IR if hasattr(block, "conv_pwl") else _LUKEMELAS_DS
            out[f"_blocks.{flat[int(s), int(i)]}.{table[sub]}.{param}"] = value.clone()
        else:
            out[f"{_LUKEMELAS_TOP[module]}.{param}"] = value.clone()
    return out


def test_lukemelas_b4_file_with_squeeze_excitation_loads(tmp_path):
    torch.manual_seed(0)
    full = timm.create_model("tf_efficientnet_b4", pretrained=False)
    path = tmp_path / "efficientnet-b4.pth"
    torch.save(_as_lukemelas(full), path)
    loaded = TimmFeatureExtractor("tf_efficientnet_b4", pretrained=str(path))
    assert loaded.out_blocks == (1, 5, 9, 21) and loaded.out_channels == [24, 32, 56, 160]
    expected = full.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert "blocks.1.0.se.conv_reduce.weight" in loaded.state_dict()
    # The B4 config names timm's pretrained tag of those TF AutoAugment weights; the tag keeps the default taps.
    assert TimmFeatureExtractor("tf_efficientnet_b4.aa_in1k", pretrained=str(path)).out_blocks == (1, 5, 9, 21)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(model_name="tf_efficientnet_lite0", out_blocks=[4, 2]),
        dict(model_name="tf_efficientnet_lite0", out_blocks=[0, 16]),
        dict(model_name="mobilenetv3_small_050"),
        dict(model_name="efficientnet_b0", pretrained="lite0-offline", out_blocks=[1]),
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        TimmFeatureExtractor(**kwargs)
