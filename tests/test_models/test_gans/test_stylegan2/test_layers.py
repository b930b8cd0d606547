import math

import pytest
import torch
from torch.nn import functional as F

from gen3d.models.gans.stylegan2.discriminator_layers import (
    DiscriminatorBlock,
    DiscriminatorEpilogue,
    MinibatchStdLayer,
)
from gen3d.models.gans.stylegan2.mapping import MappingNetwork, normalize_2nd_moment
from gen3d.models.gans.stylegan2.modulated_conv import ModulatedConv2d, ToRGB, modulated_conv2d


@pytest.mark.parametrize("up", [1, 2])
def test_fused_and_unfused_modulated_conv_agree(up):
    torch.manual_seed(0)
    f = torch.ones(4, 4) / 16
    x, w, s = torch.randn(3, 4, 5, 5), torch.randn(6, 4, 3, 3), torch.randn(3, 4)
    a = modulated_conv2d(x, w, s, up=up, resample_filter=f, fused=False)
    b = modulated_conv2d(x, w, s, up=up, resample_filter=f, fused=True)
    assert a.shape == (3, 6, 5 * up, 5 * up)
    assert torch.allclose(a, b, atol=1e-5)


def test_demodulation_normalises_output_std_per_channel():
    torch.manual_seed(0)
    x, w = torch.randn(256, 16, 8, 8), torch.randn(8, 16, 3, 3)
    s = torch.rand(256, 16) * 4 + 0.1  # wildly scaled styles
    y = modulated_conv2d(x, w, s, demodulate=True)[..., 1:-1, 1:-1]
    std = y.transpose(0, 1).reshape(8, -1).std(dim=1)
    assert torch.allclose(std, torch.ones(8), atol=0.1)
    y_raw = modulated_conv2d(x, w, s, demodulate=False)
    assert y_raw.std() > 3  # without demodulation the styles' scale passes through


def test_modulated_conv_noise_modes():
    torch.manual_seed(0)
    layer = ModulatedConv2d(4, 6, w_dim=8, resolution=8, up=2)
    with torch.no_grad():
        layer.noise_strength.fill_(0.5)
    x, w = torch.randn(2, 4, 4, 4), torch.randn(2, 8)
    assert layer(x, w, "random").shape == (2, 6, 8, 8)
    assert not torch.equal(layer(x, w, "random"), layer(x, w, "random"))
    assert torch.equal(layer(x, w, "const"), layer(x, w, "const"))
    assert not torch.equal(layer(x, w, "const"), layer(x, w, "none"))
    assert "noise_const" in layer.state_dict() and "resample_filter" not in layer.state_dict()
    with pytest.raises(ValueError):
        layer(x, w, "fixed")


def test_torgb_has_no_demodulation_and_keeps_resolution():
    torch.manual_seed(0)
    layer = ToRGB(8, 3, w_dim=8)
    x, w = torch.randn(2, 8, 4, 4), torch.randn(2, 8)
    out = layer(x, w)
    assert out.shape == (2, 3, 4, 4)
    assert torch.allclose(layer(2 * x, w), 2 * out, atol=1e-5)  # linear in x: no demodulation, no activation


def test_mapping_network_conditioning_truncation_and_w_avg():
    torch.manual_seed(0)
    mapping = MappingNetwork(z_dim=8, c_dim=3, w_dim=8, num_ws=5, num_layers=2)
    z, c = torch.randn(4, 8), F.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    ws = mapping(z, c)
    assert ws.shape == (4, 5, 8) and torch.equal(ws[:, 0], ws[:, 4])
    assert not torch.allclose(mapping(z, c.roll(1, dims=1)), ws)
    mapping.w_avg.normal_()
    assert torch.allclose(mapping(z, c, truncation_psi=0.0), mapping.w_avg.expand(4, 5, 8))
    cut = mapping(z, c, truncation_psi=0.0, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], mapping.w_avg.expand(4, 2, 8)) and torch.allclose(cut[:, 2:], ws[:, 2:])
    before = mapping.w_avg.clone()
    mapping(z, c)
    assert torch.equal(mapping.w_avg, before)
    mapping(z, c, update_w_avg=True)
    assert torch.allclose(mapping.w_avg, ws[:, 0].mean(0).lerp(before, 0.995))
    with pytest.raises(ValueError):
        mapping(z, None)


def test_normalize_2nd_moment():
    x = normalize_2nd_moment(torch.randn(3, 16) * 7)
    assert torch.allclose(x.square().mean(1), torch.ones(3), atol=1e-4)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 8])
def test_minibatch_std_any_batch_size(n):
    torch.manual_seed(0)
    layer = MinibatchStdLayer(group_size=4, num_channels=1)
    x = torch.randn(n, 4, 3, 3)
    y = layer(x)
    assert y.shape == (n, 5, 3, 3) and torch.equal(y[:, :4], x)
    g = max(d for d in range(1, 5) if n % d == 0)
    groups = x.reshape(g, n // g, 4, 3, 3)  # strided groups like the official reshape
    ref = (groups.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=[1, 2, 3])
    assert torch.allclose(y[:, 4, 0, 0], ref.repeat(g), atol=1e-6)


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning")
def test_minibatch_std_exports_with_a_dynamic_batch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    layer = MinibatchStdLayer(group_size=4, num_channels=2)
    path = tmp_path / "mbstd.onnx"
    torch.onnx.export(layer, (torch.randn(4, 4, 3, 3),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (4, 3, 6, 2):
        x = torch.randn(n, 4, 3, 3)
        assert torch.allclose(torch.from_numpy(sess.run(None, {"x": x.numpy()})[0]), layer(x), atol=1e-5)


def test_discriminator_block_and_epilogue():
    torch.manual_seed(0)
    block = DiscriminatorBlock(0, 8, 16, img_channels=3)
    x = block(torch.randn(2, 3, 8, 8))
    assert x.shape == (2, 16, 4, 4)
    assert DiscriminatorBlock(16, 16, 16, 3, architecture="orig")(torch.randn(2, 16, 8, 8)).shape == (2, 16, 4, 4)
    assert DiscriminatorEpilogue(16)(x).shape == (2, 1)
    cond = DiscriminatorEpilogue(16, cmap_dim=8)
    cmap = torch.randn(2, 8)
    out = cond(x, cmap)
    raw = cond.out(cond.fc(cond.conv(cond.mbstd(x)).flatten(1)))
    assert torch.allclose(out, (raw * cmap).sum(1, keepdim=True) / math.sqrt(8), atol=1e-6)
