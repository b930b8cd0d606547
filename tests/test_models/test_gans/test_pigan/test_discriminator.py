"""PiGANDiscriminator: shapes of every level and head, entry level by resolution, the fade-in blend, CoordConv."""

import pytest
import torch
import torch.nn.functional as F

from gen3d.models.gans.pigan import PiGANDiscriminator
from gen3d.models.gans.pigan.discriminator import CCS_CHANNELS, add_coords

torch.set_num_threads(1)


def _disc(**kw):
    torch.manual_seed(0)
    return PiGANDiscriminator(**{"img_resolution": 16, "width": 0.05, **kw}).eval()


def test_ccs_widths_and_outputs_of_the_celeba_discriminator():
    d = PiGANDiscriminator(img_resolution=64)
    assert d.channels == [CCS_CHANNELS[r] for r in (64, 32, 16, 8, 4, 2)] == [128, 256, 400, 400, 400, 400]
    assert d.final.out_channels == 1 + 256 + 2 and d.final.kernel_size == (2, 2)


@pytest.mark.parametrize("res", [16, 8, 4])
def test_features_fine_to_coarse_and_head(res):
    d = _disc(latent_dim=3)
    img = torch.rand(2, 3, res, res) * 2 - 1
    feats = d.features(img)
    sides = [res // 2**i for i in range(len(feats))]
    assert [f.shape[-1] for f in feats] == sides and sides[-1] == 2
    assert [f.shape[1] for f in feats] == d.channels[d.level(res):]
    out = d(img)
    assert out["logit"].shape == (2, 1) and out["pose"].shape == (2, 2) and out["latent"].shape == (2, 3)
    assert torch.equal(out["logit"], d.head(feats[-1])["logit"])


def test_optional_outputs_and_refusals():
    out = _disc(pose_dim=0, latent_dim=0)(torch.zeros(1, 3, 16, 16))
    assert out["pose"] is None and out["latent"] is None and out["logit"].shape == (1, 1)
    with pytest.raises(ValueError, match="takes inputs"):
        _disc()(torch.zeros(1, 3, 12, 12))
    with pytest.raises(ValueError, match="power of 2"):
        PiGANDiscriminator(img_resolution=24)


def test_fade_in_blends_the_new_level_with_the_half_size_image():
    d = _disc()
    img = torch.rand(2, 3, 16, 16) * 2 - 1
    new = d.blocks[0](d.from_rgb[0](img))
    old = d.from_rgb[1](F.interpolate(img, scale_factor=0.5, mode="nearest"))
    for alpha in (0.0, 0.3):
        assert torch.allclose(d.features(img, alpha)[1], alpha * new + (1 - alpha) * old, atol=1e-6)
    # alpha = 0 is the 8 px discriminator on the downsampled image from its second level on
    assert torch.allclose(d(img, alpha=0.0)["logit"], d(F.interpolate(img, scale_factor=0.5))["logit"], atol=1e-5)
    assert not torch.allclose(d(img, alpha=1.0)["logit"], d(img, alpha=0.0)["logit"])


def test_coordconv_channels_are_row_then_column_in_minus_one_one():
    x = add_coords(torch.zeros(1, 1, 3, 5))
    assert torch.equal(x[0, 1, :, 0], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(x[0, 1, 0], torch.full((5,), -1.0))
    assert torch.equal(x[0, 2, 0], torch.linspace(-1, 1, 5)) and torch.equal(x[0, 2, :, 4], torch.ones(3))


def test_gradients_reach_every_used_parameter():
    d = _disc()
    d(torch.rand(2, 3, 16, 16), alpha=0.5)["logit"].sum().backward()
    unused = [n for n, p in d.named_parameters() if p.grad is None]
    assert all(n.startswith(("from_rgb.2", "from_rgb.3")) for n in unused), unused
