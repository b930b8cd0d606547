import copy
import math

import pytest
import torch
from torch import nn

from gen3d.models.gans import DynamicDiscriminator, StyleGAN2Discriminator
from gen3d.models.layers.equalized import EqualConv2d, EqualLinear
from gen3d.registry import MODELS

D_CFG = dict(type="StyleGAN2Discriminator", resolution=16, channel_base=256, channel_max=32)


def _plain_and_dynamic(**kwargs):
    torch.manual_seed(0)
    plain = MODELS.build(D_CFG)
    dyn = DynamicDiscriminator(copy.deepcopy(plain), **kwargs)
    return plain, dyn


def _names(dyn):
    lookup = {id(m): n for n, m in dyn.module.named_modules()}
    return [lookup[id(m)] for m in dyn.masked_layers]


def test_layer_order_is_the_official_one():
    _, dyn = _plain_and_dynamic(start_ratio=0.5, end_ratio=1.0, total_img=100)
    assert _names(dyn) == ["b16.fromrgb", "b16.conv0", "b16.conv1", "b16.skip", "b8.conv0", "b8.conv1", "b8.skip",
                           "b4.conv", "b4.fc", "b4.out"]


def test_schedule_is_linear_and_clamped():
    _, dyn = _plain_and_dynamic(start_ratio=1.0, end_ratio=0.5, total_img=1000)
    assert dyn.ratio == 1.0
    assert [dyn.set_progress(s) for s in (0, 250, 500, 1000, 5000)] == [1.0, 0.875, 0.75, 0.5, 0.5]
    assert dyn.module.b8.conv0.width_mask.ratio == 0.5
    with pytest.raises(ValueError):
        DynamicDiscriminator(D_CFG, start_ratio=0.0, end_ratio=1.0, total_img=10)


def test_ratio_one_is_identical_to_plain_discriminator():
    plain, dyn = _plain_and_dynamic(start_ratio=1.0, end_ratio=0.5, total_img=1000, random_select=True)
    img = torch.randn(4, 3, 16, 16)
    assert torch.equal(dyn(img), plain(img))
    dyn.set_progress(500)
    assert not torch.allclose(dyn(img), plain(img))


def test_masks_and_gains_at_half_width():
    _, dyn = _plain_and_dynamic(start_ratio=0.5, end_ratio=0.5, total_img=1)
    d = dyn.module
    # fromRGB keeps its 3 inputs, halves its 16 outputs
    w = d.b16.fromrgb.effective_weight()
    assert (w.abs().sum(dim=[0, 2, 3]) > 0).sum() == 3 and (w.abs().sum(dim=[1, 2, 3]) > 0).sum() == 8
    assert torch.allclose(w[:8], d.b16.fromrgb.weight[:8] / math.sqrt(3))
    # conv: n_in = 8 of 16, gain 1 / sqrt(8 * 9)
    w = d.b16.conv0.effective_weight()
    assert torch.allclose(w[:8, :8], d.b16.conv0.weight[:8, :8] / math.sqrt(8 * 9)) and w[8:].abs().sum() == 0
    # epilogue conv: 16 of 32 feature channels plus the stddev channel
    w = d.b4.conv.effective_weight()
    kept_in = (w.abs().sum(dim=[0, 2, 3]) > 0).nonzero().flatten().tolist()
    assert kept_in == list(range(16)) + [32]
    assert torch.allclose(w[:16, :16], d.b4.conv.weight[:16, :16] / math.sqrt(17 * 9))
    # fc: whole 4x4 channel maps, gain 1 / sqrt(16 * 16)
    w = d.b4.fc.effective_weight()
    assert torch.allclose(w[:16, :256], d.b4.fc.weight[:16, :256] / math.sqrt(16 * 16)) and w[:, 256:].abs().sum() == 0
    # out keeps its output
    w = d.b4.out.effective_weight()
    assert w.shape == (1, 32) and (w.abs() > 0).sum() == 16


def test_keep_layers():
    _, dyn = _plain_and_dynamic(start_ratio=0.5, end_ratio=0.5, total_img=1, keep_layers=5)
    d = dyn.module
    for layer in (d.b16.fromrgb, d.b16.conv0, d.b16.conv1, d.b16.skip, d.b8.conv0):  # indices 0..4: never masked
        assert layer.width_mask.ratio is None
        assert torch.equal(layer.effective_weight(), layer.weight * layer.weight_gain)
    w = d.b8.conv1.effective_weight()  # index 5 == keep_layers: full input, half output
    assert (w.abs().sum(dim=[0, 2, 3]) > 0).all() and (w.abs().sum(dim=[1, 2, 3]) > 0).sum() == 16
    assert d.b8.skip.width_mask.keep_in is False and d.b8.skip.width_mask.ratio == 0.5
    assert d.b4.conv.width_mask.ratio == 0.5  # the epilogue is always dynamic (not counted by keep_layers)


def test_random_subset_changes_between_forwards_in_training_only():
    _, dyn = _plain_and_dynamic(start_ratio=0.5, end_ratio=0.5, total_img=1, random_select=True)
    img = torch.randn(4, 3, 16, 16)
    dyn.train()
    assert not torch.allclose(dyn(img), dyn(img))
    dyn.eval()
    assert torch.equal(dyn(img), dyn(img))
    first = _plain_and_dynamic(start_ratio=0.5, end_ratio=0.5, total_img=1)[1]
    assert torch.equal(first.train()(img), first(img))  # first-k selection is deterministic


def test_adds_no_parameters_and_state_dict_round_trip():
    plain, dyn = _plain_and_dynamic(start_ratio=0.5, end_ratio=1.0, total_img=1000)
    assert sum(p.numel() for p in dyn.parameters()) == sum(p.numel() for p in plain.parameters())
    state = dyn.state_dict()
    assert set(state) == {f"module.{k}" for k in plain.state_dict()}
    torch.manual_seed(1)
    other = DynamicDiscriminator(D_CFG, start_ratio=0.5, end_ratio=1.0, total_img=1000)
    other.load_state_dict(state)
    img = torch.randn(2, 3, 16, 16)
    assert torch.equal(other(img), dyn(img))


def test_deepcopy_keeps_the_schedule_and_keep_layers():
    _, dyn = _plain_and_dynamic(start_ratio=1.0, end_ratio=0.5, total_img=100, keep_layers=2)
    clone = copy.deepcopy(dyn)
    clone.set_progress(100)
    assert clone.module.b16.conv1.width_mask.ratio == 0.5 and clone.module.b16.conv0.width_mask.ratio is None
    assert dyn.module.b16.conv1.width_mask.ratio == 1.0  # the original is untouched


def test_conditional_and_attribute_passthrough():
    torch.manual_seed(0)
    dyn = MODELS.build(dict(type="DynamicDiscriminator", discriminator=dict(D_CFG, c_dim=2), start_ratio=0.5,
                            end_ratio=1.0, total_img=10, random_select=True, keep_layers=9))
    assert isinstance(dyn.module, StyleGAN2Discriminator) and dyn.c_dim == 2 and dyn.resolution == 16
    assert all(m.width_mask is None for m in dyn.module.mapping.modules() if isinstance(m, EqualLinear))
    out = dyn.train()(torch.randn(3, 3, 16, 16), torch.eye(2)[[0, 1, 0]])
    assert out.shape == (3, 1)
    out.sum().backward()


def test_wraps_a_discriminator_without_hints():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = EqualConv2d(3, 8, 3, activation="lrelu")
            self.fc = EqualLinear(8, 1)

        def forward(self, img, c=None):
            return self.fc(self.conv(img).mean(dim=[2, 3]))

    torch.manual_seed(0)
    tiny = Tiny()
    img = torch.randn(2, 3, 8, 8)
    ref = tiny(img)
    dyn = DynamicDiscriminator(tiny, start_ratio=1.0, end_ratio=0.5, total_img=10)
    assert torch.equal(dyn(img), ref)
    dyn.set_progress(10)
    assert tiny.conv.width_mask.keep_in and tiny.fc.width_mask.keep_out
    assert (tiny.conv.effective_weight().abs().sum(dim=[1, 2, 3]) > 0).sum() == 4
