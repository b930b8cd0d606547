import numpy as np
import pytest
import torch

from gen3d.models.editing.manipulation import edit_grid, edit_ws, image_locality, locality_ratio, sample_ws, truncate_ws
from gen3d.models.editing.region import box_to_mask

from . import tiny_generator


def test_edit_changes_only_selected_layers_and_alpha_zero_is_identity():
    gen = torch.Generator().manual_seed(0)
    ws = torch.randn(2, 6, 8, generator=gen)
    n = torch.randn(8, generator=gen)
    out = edit_ws(ws, n, [0.0, 2.5, -1.0], layers=[1, 3])
    assert out.shape == (2, 3, 6, 8)
    assert torch.equal(out[:, 0], ws)
    for i, alpha in enumerate([0.0, 2.5, -1.0]):
        delta = out[:, i] - ws
        # (ws + alpha n) - ws rounds to float32 at |ws|'s scale, so compare with an absolute tolerance
        assert torch.allclose(delta[:, [1, 3]], (alpha * n).expand(2, 2, 8), atol=1e-5)
        assert torch.equal(delta[:, [0, 2, 4, 5]], torch.zeros(2, 4, 8))
    everywhere = edit_ws(ws, n.numpy(), [1.0], layers=None)[:, 0]
    assert torch.allclose(everywhere - ws, n.expand(2, 6, 8), atol=1e-5)


def test_edit_validates_inputs():
    ws = torch.randn(2, 6, 8)
    with pytest.raises(ValueError, match="direction has 7 entries"):
        edit_ws(ws, torch.randn(7), [1.0])
    with pytest.raises(ValueError, match="layers"):
        edit_ws(ws, torch.randn(8), [1.0], layers=[6])
    with pytest.raises(ValueError, match="ws must be"):
        edit_ws(ws[0], torch.randn(8), [1.0])


def test_truncation_on_first_layers_only():
    ws, w_avg = torch.randn(3, 6, 8), torch.randn(8)
    out = truncate_ws(ws, w_avg, psi=0.7, cutoff=4)
    assert torch.allclose(out[:, :4], w_avg + 0.7 * (ws[:, :4] - w_avg), atol=1e-6)
    assert torch.equal(out[:, 4:], ws[:, 4:])
    assert torch.equal(truncate_ws(ws, w_avg, psi=1.0), ws)


def test_sample_ws_follows_the_official_sampling_and_truncation():
    gen = tiny_generator()
    gen.mapping.w_avg.copy_(torch.randn(8))
    z = torch.from_numpy(np.random.RandomState(4).randn(3, 8).astype(np.float32))
    with torch.no_grad():
        expected = gen.mapping(z, None, truncation_psi=0.7, truncation_cutoff=4)
    assert torch.allclose(sample_ws(gen, 3, seed=4, psi=0.7, cutoff=4), expected, atol=1e-6)
    assert not torch.allclose(sample_ws(gen, 3, seed=5), sample_ws(gen, 3, seed=4))


def test_edit_grid_shapes_and_centre_column():
    gen = tiny_generator()
    ws = sample_ws(gen, 2)
    grid = edit_grid(gen, ws, torch.randn(8), layers=[2, 3], start=-3, end=3, steps=5)
    assert grid.shape == (2, 5, 3, 16, 16)
    with torch.no_grad():
        plain = gen.synthesis(ws, noise_mode="const")
    assert torch.allclose(grid[:, 2], plain, atol=1e-6)
    assert not torch.allclose(grid[:, 0], plain, atol=1e-3)


def test_image_locality_on_crafted_images():
    mask = box_to_mask([8, 8, 4, 4], 16)
    before = torch.zeros(2, 3, 16, 16)
    after = before.clone()
    after[:, :, mask] = 1.0
    after[:, :, ~mask] = 0.1
    assert image_locality(before, after, mask) == pytest.approx(10.0)
    assert image_locality(before, before + 0.5, mask) == pytest.approx(1.0)
    per = image_locality(before, torch.cat([after[:1], before[:1] + 0.5]), mask, per_latent=True)
    assert per.tolist() == pytest.approx([10.0, 1.0])
    assert image_locality(before, torch.cat([after[:1], before[:1] + 0.5]), mask) == pytest.approx(5.5)
    with pytest.raises(ValueError, match="expected two"):
        image_locality(before, after, mask[:8])


def test_locality_ratio_alpha_zero_direction_is_neutral():
    gen = tiny_generator()
    ws = sample_ws(gen, 2, seed=9)
    mask = box_to_mask([8, 8, 6, 8], 16)
    ratios = locality_ratio(gen, ws, torch.randn(8), mask, alpha=1.0, per_latent=True)
    assert ratios.shape == (2,) and torch.isfinite(ratios).all() and (ratios > 0).all()
