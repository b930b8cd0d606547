import pytest
import torch
from torch.nn import functional as F

from gen3d.models.gans import StyleGAN2Discriminator
from gen3d.registry import MODELS

TINY = dict(channel_base=256, channel_max=32)


@pytest.mark.parametrize("resolution", [16, 32])
def test_shapes_and_block_layout(resolution):
    torch.manual_seed(0)
    disc = StyleGAN2Discriminator(resolution, **TINY)
    assert disc.block_resolutions == [r for r in (32, 16, 8) if r <= resolution]
    top = getattr(disc, f"b{resolution}")
    assert hasattr(top, "fromrgb") and not hasattr(disc.b8, "fromrgb")  # fromRGB at the top resolution only
    assert top.skip.bias is None and top.skip.kernel_size == 1
    assert disc(torch.randn(3, 3, resolution, resolution)).shape == (3, 1)


def test_resnet_branches_scaled_by_sqrt_half():
    torch.manual_seed(0)
    disc = StyleGAN2Discriminator(16, **TINY)
    block, x = disc.b8, torch.randn(2, 32, 8, 8)
    expected = (block.skip(x) + block.conv1(block.conv0(x))) * 0.5**0.5
    assert torch.allclose(block(x), expected, atol=1e-5)


def test_batch_not_divisible_by_group_size():
    disc = StyleGAN2Discriminator(16, mbstd_group_size=4, **TINY)
    for n in (1, 3, 5, 6):
        assert disc(torch.randn(n, 3, 16, 16)).shape == (n, 1)


def test_projection_conditioning():
    torch.manual_seed(0)
    disc = StyleGAN2Discriminator(16, c_dim=3, **TINY)
    assert disc.cmap_dim == 32 and disc.b4.out.out_features == 32
    img = torch.randn(2, 3, 16, 16)
    c0, c1 = F.one_hot(torch.tensor([0, 0]), 3).float(), F.one_hot(torch.tensor([2, 2]), 3).float()
    assert not torch.allclose(disc(img, c0), disc(img, c1))
    with pytest.raises(ValueError):
        disc(img)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    disc = StyleGAN2Discriminator(16, c_dim=2, **TINY)
    disc(torch.randn(4, 3, 16, 16), torch.eye(2).repeat(2, 1)).sum().backward()
    missing = [n for n, p in disc.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_r1_double_backward():
    disc = StyleGAN2Discriminator(16, **TINY)
    img = torch.randn(2, 3, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(disc(img).sum(), img, create_graph=True)
    grad.square().sum().backward()
    assert disc.b16.fromrgb.weight.grad is not None


def test_orig_architecture_config_build_and_validation():
    disc = MODELS.build(dict(type="StyleGAN2Discriminator", resolution=16, img_channels=1, architecture="orig", **TINY))
    assert not hasattr(disc.b16, "skip") and disc(torch.randn(2, 1, 16, 16)).shape == (2, 1)
    with pytest.raises(ValueError):
        disc(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError):
        StyleGAN2Discriminator(16, architecture="skip")
