"""Equalized-learning-rate layers shared by the GAN families (StyleGAN2, DynamicD's masks): gains, init, shapes."""

import math

import pytest
import torch

from gen3d.models.layers.equalized import EqualConv2d, EqualLinear, bias_act


def test_bias_act_lrelu_gain_and_clamp():
    x = torch.tensor([[-1.0, 2.0]])
    out = bias_act(x, torch.tensor([0.0, 1.0]), "lrelu", gain=0.5, clamp=1.0)
    # lrelu(-1) * sqrt(2) * 0.5 = -0.1414; lrelu(3) * sqrt(2) * 0.5 = 2.12 clamped to 1.0 * 0.5
    assert torch.allclose(out, torch.tensor([[-0.2 * math.sqrt(2) * 0.5, 0.5]]))
    with pytest.raises(ValueError):
        bias_act(x, None, "relu6")


def test_equal_linear_lr_multiplier_and_bias_init():
    torch.manual_seed(0)
    layer = EqualLinear(64, 8, bias_init=1.0, lr_multiplier=0.01)
    assert torch.allclose(layer.weight.std(), torch.tensor(100.0), rtol=0.1)  # stored N(0,1) / lr_mult
    assert torch.allclose(layer.effective_weight().std() * 8, torch.tensor(1.0), rtol=0.1)  # 1/sqrt(64) at runtime
    out = layer(torch.zeros(3, 64))
    assert torch.allclose(out, torch.full((3, 8), 0.01))  # bias * bias_gain (lr_mult)


def test_equal_conv_shapes_and_unit_variance():
    torch.manual_seed(0)
    conv = EqualConv2d(32, 32, 3)
    assert conv(torch.randn(2, 32, 8, 8)).shape == (2, 32, 8, 8)
    y = conv(torch.randn(64, 32, 8, 8))[..., 1:-1, 1:-1]
    assert 0.8 < y.std().item() < 1.2  # equalized gain keeps unit variance
    down = EqualConv2d(4, 6, 3, down=2, activation="lrelu")
    assert down(torch.randn(2, 4, 8, 8)).shape == (2, 6, 4, 4)
    assert EqualConv2d(4, 6, 1, down=2, bias=False)(torch.randn(2, 4, 8, 8)).shape == (2, 6, 4, 4)
