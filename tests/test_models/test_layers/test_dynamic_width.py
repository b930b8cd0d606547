import math

import pytest
import torch
from torch.nn import functional as F

from gen3d.models.layers.dynamic_width import WidthMask, masked_weight
from gen3d.models.layers.equalized import EqualConv2d, EqualLinear


def test_inactive_mask_is_the_plain_layer():
    assert WidthMask().is_full(8, 8)
    assert WidthMask(ratio=1.0).is_full(8, 8)
    assert not WidthMask(ratio=0.5).is_full(8, 8)
    assert WidthMask(ratio=0.5, keep_in=True, keep_out=True).is_full(8, 8)


def test_conv_mask_shapes_and_gain():
    torch.manual_seed(0)
    conv = EqualConv2d(8, 6, 3, width_mask=WidthMask(ratio=0.5))
    w = conv.effective_weight()
    kept_out = (w.abs().sum(dim=[1, 2, 3]) > 0).sum().item()
    kept_in = (w.abs().sum(dim=[0, 2, 3]) > 0).sum().item()
    assert (kept_out, kept_in) == (3, 4)
    assert torch.equal((w[:3, :4] != 0), torch.ones(3, 4, 3, 3, dtype=torch.bool))  # first units, not random
    assert torch.allclose(w[:3, :4], conv.weight[:3, :4] / math.sqrt(4 * 9))  # gain 1 / sqrt(n_in_kept * k * k)


def test_floor_of_kept_units_and_minus_dim():
    mask = WidthMask(ratio=0.7, minus_dim=1)
    # official: int(0.7 * (9 - 1)) + 1 = 6 inputs kept, the last (stddev channel) always among them
    assert mask.kept_in(9) == 6 and mask.kept_out(10) == 7
    in_mask, out_mask = mask.masks(9, 10, training=False)
    assert in_mask.tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 1] and out_mask.sum() == 7
    assert WidthMask(ratio=0.01).kept_in(8) == 1  # never zero units


def test_fc_div_dim_masks_whole_channels():
    fc = EqualLinear(4 * 16, 5, width_mask=WidthMask(ratio=0.5, div_dim=16))
    w = fc.effective_weight()
    col_kept = (w.abs().sum(0) > 0).reshape(4, 16)
    assert col_kept[:2].all() and not col_kept[2:].any()  # channel-major flatten of (C, H, W)
    assert (w.abs().sum(1) > 0).sum() == 2
    assert torch.allclose(w[:2, :32], fc.weight[:2, :32] / math.sqrt(2 * 16))  # gain 1 / sqrt(n_in * div_dim)


def test_keep_in_keep_out():
    in_mask, out_mask = WidthMask(ratio=0.5, keep_in=True).masks(6, 4, training=False)
    assert in_mask.all() and out_mask.sum() == 2
    in_mask, out_mask = WidthMask(ratio=0.5, keep_out=True).masks(6, 4, training=False)
    assert in_mask.sum() == 3 and out_mask.all()


def test_random_select_only_in_training():
    torch.manual_seed(0)
    mask = WidthMask(ratio=0.5, random_select=True)
    draws = {tuple(mask.masks(16, 16, training=True)[0].tolist()) for _ in range(5)}
    assert len(draws) > 1 and all(sum(d) == 8 for d in draws)
    assert mask.masks(16, 16, training=False)[0].tolist() == [1.0] * 8 + [0.0] * 8


def test_masked_layer_equals_a_narrow_layer():
    # With first-k selection a masked conv is exactly a conv with k_in inputs and k_out outputs (zero elsewhere).
    torch.manual_seed(0)
    conv = EqualConv2d(8, 6, 3, activation="lrelu", width_mask=WidthMask(ratio=0.5))
    x = torch.randn(2, 8, 5, 5)
    narrow = F.conv2d(x[:, :4], conv.weight[:3, :4] / math.sqrt(4 * 9), padding=1) + conv.bias[:3].reshape(1, -1, 1, 1)
    out = conv(x)
    assert torch.allclose(out[:, :3], F.leaky_relu(narrow, 0.2) * math.sqrt(2), atol=1e-5)
    assert torch.allclose(out[:, 3:], torch.zeros(1), atol=1e-6)  # zero bias at init


def test_gradient_reaches_only_kept_weights():
    conv = EqualConv2d(4, 4, 1, width_mask=WidthMask(ratio=0.5))
    conv(torch.randn(2, 4, 3, 3)).square().sum().backward()
    assert conv.weight.grad[:2, :2].abs().sum() > 0 and conv.weight.grad[2:].abs().sum() == 0


def test_masked_weight_respects_lr_multiplier():
    w = torch.ones(2, 4)
    out = masked_weight(w, WidthMask(ratio=0.5), lr_multiplier=0.5, training=False)
    assert torch.allclose(out[0, :2], torch.full((2,), 0.5 / math.sqrt(2)))


@pytest.mark.parametrize("layer", [EqualConv2d(8, 8, 3), EqualLinear(8, 8)])
def test_ratio_one_is_bit_identical(layer):
    x = torch.randn(2, 8, 4, 4) if isinstance(layer, EqualConv2d) else torch.randn(2, 8)
    plain = layer(x)
    layer.width_mask = WidthMask(ratio=1.0, random_select=True)
    assert torch.equal(layer(x), plain)
