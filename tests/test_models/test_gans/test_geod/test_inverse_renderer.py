"""The Unsup3d-style inverse renderer: shading, the confidence L1, shapes and conventions, self-supervised learning."""

import math

import pytest
import torch

from gen3d.models.gans.geod.inverse_renderer import EDDeconv, Encoder, Unsup3dInverseRenderer, confidence_l1, shade

from .toys import shaded_spheres

TINY = dict(resolution=16, nf=8, zdim=16, light_nf=8, conf_nf=8, conf_zdim=8)


def test_shade_flat_frontal_surface_faces_the_viewer():
    depth = torch.full((1, 1, 8, 8), 2.5)
    albedo = torch.zeros(1, 3, 8, 8)  # 0.5 in [0, 1]
    img, normal = shade(depth, albedo, torch.tensor([[0.2, 0.6, 0.0, 0.0]]))
    assert torch.allclose(normal[:, :, 1:-1, 1:-1], torch.tensor([0.0, 0.0, 1.0])[None, :, None, None], atol=1e-5)
    assert torch.allclose(img, torch.full_like(img, 0.5 * (0.2 + 0.6) * 2 - 1), atol=1e-5)


def test_shade_normals_tilt_away_from_the_near_side_in_gen3d_convention():
    # depth grows to the right and towards the top: the surface turns right and up (a sphere's right and top rims)
    h = w = 8
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    depth = (2.5 + 0.05 * xs - 0.05 * ys)[None, None]  # row 0 is the top: depth larger at the top
    _, n = shade(depth, torch.zeros(1, 3, h, w), torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    centre = n[0, :, 4, 4]
    assert centre[0] > 0 and centre[1] > 0 and centre[2] > 0


def test_light_direction_lights_the_surface_facing_it():
    h = w = 8
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    depth = (2.5 + 0.1 * xs)[None, None]  # faces right (+x)
    left, _ = shade(depth, torch.zeros(1, 3, h, w), torch.tensor([[0.0, 1.0, -1.0, 0.0]]))
    right, _ = shade(depth, torch.zeros(1, 3, h, w), torch.tensor([[0.0, 1.0, 1.0, 0.0]]))
    assert right[..., 1:-1, 1:-1].mean() > left[..., 1:-1, 1:-1].mean()


def test_confidence_l1_formula():
    a, b = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    sigma = torch.full((1, 1, 2, 2), 2.0)
    assert confidence_l1(a, b, sigma).item() == pytest.approx(math.sqrt(2) / 2 + math.log(2), rel=1e-5)
    mask = torch.zeros(1, 1, 2, 2)
    mask[..., 0, 0] = 1
    b[..., 1, 1] = 5  # outside the mask
    assert confidence_l1(a, b, sigma, mask).item() == pytest.approx(math.sqrt(2) / 2 + math.log(2), rel=1e-5)


@pytest.mark.parametrize("res", [8, 16, 64])
def test_networks_adapt_to_the_resolution(res):
    x = torch.rand(2, 3, res, res)
    assert EDDeconv(3, 1, res, nf=4, zdim=8)(x).shape == (2, 1, res, res)
    assert Encoder(3, 4, res, nf=4)(x).shape == (2, 4)
    with pytest.raises(ValueError, match="power of two"):
        EDDeconv(3, 1, 24)


def test_forward_outputs_and_depth_range():
    torch.manual_seed(0)
    ir = Unsup3dInverseRenderer(**TINY)
    out = ir(torch.rand(3, 3, 32, 32) * 2 - 1)  # resized to the working 16 px
    assert out["input"].shape == (3, 3, 16, 16)
    for k, c in (("depth", 1), ("albedo", 3), ("normal", 3), ("recon", 3), ("recon_flip", 3), ("mask", 1)):
        assert out[k].shape == (3, c, 16, 16), k
    assert out["conf"].shape == (3, 2, 16, 16) and (out["conf"] > 0).all()
    assert (out["depth"] >= ir.min_depth).all() and (out["depth"] <= ir.max_depth).all()
    assert torch.allclose(out["depth"][..., :2], torch.full_like(out["depth"][..., :2], ir.border_depth))
    assert out["light"].shape == (3, 4) and (out["light"][:, :2] >= 0).all() and (out["light"][:, :2] <= 1).all()
    assert torch.allclose(out["normal"].norm(dim=1), torch.ones(3, 16, 16), atol=1e-5)


def test_perceptual_term_only_with_a_module():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 16, 16) * 2 - 1
    assert set(Unsup3dInverseRenderer(**TINY).loss(img)) == {"loss", "l1", "l1_flip"}

    class L1Perceptual(torch.nn.Module):  # a stand-in feature loss, not a VGG
        def forward(self, recon, target, mask, sigma):
            return (recon - target).abs().mean()

    losses = Unsup3dInverseRenderer(**TINY, perceptual=L1Perceptual()).loss(img)
    assert {"perc", "perc_flip"} <= set(losses)
    expected = losses["l1"] + 0.5 * losses["l1_flip"] + 1.0 * (losses["perc"] + 0.5 * losses["perc_flip"])
    assert torch.allclose(losses["loss"], expected)


def test_self_supervised_training_lowers_the_reconstruction_loss_on_spheres():
    torch.manual_seed(0)
    imgs, _, _ = shaded_spheres(16, 16)
    ir = Unsup3dInverseRenderer(**TINY)
    opt = torch.optim.Adam(ir.parameters(), lr=1e-3, betas=(0.9, 0.999), weight_decay=5e-4)
    with torch.no_grad():
        before = ir.loss(imgs)["loss"].item()
    for _ in range(30):
        loss = ir.loss(imgs)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = ir.loss(imgs)["loss"].item()
    assert after < before - 0.5
