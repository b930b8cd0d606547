import math

import pytest
import torch

from gen3d.models.rendering import composite, noise_std_schedule

RED, GREEN = torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0])


def _slab(depth_at=5):
    t = torch.linspace(0.5, 1.5, 11).expand(2, 3, 11)
    inside = (torch.arange(11) >= depth_at).float()
    sigma = (1e4 * inside).expand(2, 3, 11)[..., None]
    rgb = torch.where(inside[:, None] > 0, RED, GREEN).expand(2, 3, 11, 3)
    return rgb, sigma, t


def test_opaque_slab_gives_its_distance_opacity_one_and_its_colour():
    out = composite(*_slab())
    assert out.rgb.shape == (2, 3, 3) and out.depth.shape == out.opacity.shape == (2, 3)
    assert out.weights.shape == (2, 3, 11)
    assert torch.allclose(out.depth, torch.full((2, 3), 1.0), atol=1e-5)
    assert torch.allclose(out.opacity, torch.ones(2, 3), atol=1e-6)
    assert torch.allclose(out.rgb, RED.expand(2, 3, 3), atol=1e-5)


def test_uniform_density_gives_the_closed_form_transmittance():
    c = 0.7
    t = torch.linspace(0.0, 2.0, 9).expand(1, 2, 9)
    sigma = torch.full((1, 2, 9, 1), c)
    rgb = torch.rand(1, 2, 9, 3)
    out = composite(rgb, sigma, t, delta_inf=0.0)
    transmittance = torch.exp(-c * t)  # T(t) = exp(-c (t - t0)), t0 = 0
    assert torch.allclose(out.weights[..., :-1], transmittance[..., :-1] * (1 - math.exp(-c * 0.25)), atol=1e-6)
    assert torch.allclose(out.opacity, torch.full((1, 2), 1 - math.exp(-c * 2.0)), atol=1e-6)
    # pi-GAN's infinite last interval absorbs the rest: opacity 1, last weight = T(t_last)
    out_inf = composite(rgb, sigma, t)
    assert torch.allclose(out_inf.opacity, torch.ones(1, 2), atol=1e-6)
    assert torch.allclose(out_inf.weights[..., -1], torch.full((1, 2), math.exp(-c * 2.0)), atol=1e-6)


def test_matches_the_official_cumprod_formula():
    torch.manual_seed(0)
    t = torch.sort(torch.rand(2, 4, 10) + 0.5, -1).values
    sigma, rgb = torch.randn(2, 4, 10, 1) * 3, torch.rand(2, 4, 10, 3)
    out = composite(rgb, sigma, t)
    deltas = torch.cat([t[..., 1:] - t[..., :-1], torch.full_like(t[..., :1], 1e10)], -1)[..., None]
    alphas = 1 - torch.exp(-deltas * torch.relu(sigma))
    shifted = torch.cat([torch.ones_like(alphas[:, :, :1]), 1 - alphas + 1e-10], -2)
    weights = alphas * torch.cumprod(shifted, -2)[:, :, :-1]
    assert torch.allclose(out.weights, weights[..., 0], atol=1e-6)
    assert torch.allclose(out.rgb, (weights * rgb).sum(-2), atol=1e-6)
    assert torch.allclose(out.depth, (weights[..., 0] * t).sum(-1), atol=1e-6)


def test_density_noise_is_relu_of_sigma_plus_noise_and_seedable():
    t = torch.linspace(0.8, 1.2, 12).expand(2, 50, 12)
    sigma, rgb = torch.zeros(2, 50, 12, 1), torch.rand(2, 50, 12, 3)
    assert torch.equal(composite(rgb, sigma, t).opacity, torch.zeros(2, 50))  # relu(0): empty
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    noisy = composite(rgb, sigma, t, noise_std=1.0, generator=g())
    assert noisy.opacity.min() > 0
    assert torch.equal(noisy.weights, composite(rgb, sigma, t, noise_std=1.0, generator=g()).weights)
    soft = composite(rgb, sigma, t, clamp_mode="softplus", delta_inf=0.0)
    assert torch.allclose(soft.opacity, torch.full((2, 50), 1 - math.exp(-math.log(2) * 0.4)), atol=1e-5)
    with pytest.raises(ValueError, match="clamp_mode"):
        composite(rgb, sigma, t, clamp_mode="exp")


def test_noise_std_schedule_is_pigans():
    assert noise_std_schedule(0) == 1.0
    assert noise_std_schedule(2500) == pytest.approx(0.5)
    assert noise_std_schedule(5000) == 0.0 and noise_std_schedule(10 ** 6) == 0.0


def test_white_and_last_background():
    rgb, sigma, t = torch.zeros(1, 1, 4, 3), torch.zeros(1, 1, 4, 1), torch.linspace(0, 1, 4).expand(1, 1, 4)
    assert torch.allclose(composite(rgb, sigma, t, white_back=True).rgb, torch.ones(1, 1, 3))
    last = composite(torch.rand(1, 1, 4, 3), sigma, t, last_back=True)
    assert torch.allclose(last.opacity, torch.ones(1, 1)) and last.weights[0, 0, -1] == 1
