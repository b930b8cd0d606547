import numpy as np
import pytest
import scipy.linalg
import torch

from gen3d.models.editing.region import box_to_mask
from gen3d.models.editing.resefa import (
    generator_image_fn,
    image_jacobian,
    rayleigh_quotient,
    region_matrices,
    resefa_directions,
    resefa_from_fn,
    sample_w,
    solve_directions,
)

from . import LinearImage, orthonormal, place_rows, tiny_generator

C, H, D = 3, 8, 6
MASK = box_to_mask([4, 4, 4, 4], H)  # 16 pixels -> 48 rows in the region, 144 outside


def random_linear(seed=0, scale_r=1.0, scale_b=1.0):
    rng = np.random.RandomState(seed)
    n_r, n_b = C * int(MASK.sum()), C * int((~MASK).sum())
    j_r = rng.randn(n_r, D) @ rng.randn(D, D) * scale_r
    j_b = rng.randn(n_b, D) @ rng.randn(D, D) * scale_b
    jac = place_rows(j_r, j_b, MASK.numpy(), C)
    return LinearImage(jac, (C, H, H), bias=rng.randn(jac.shape[0])), j_r, j_b


def ws(num=2, seed=1):
    return torch.from_numpy(np.random.RandomState(seed).randn(num, D))


def test_jacobian_of_linear_model_and_region_matrices():
    fn, j_r, j_b = random_linear()
    jac = image_jacobian(fn, ws(1)[0])
    assert jac.shape == (C, H, H, D)
    assert torch.allclose(jac.reshape(-1, D), fn.jac)
    m_r, m_b = region_matrices(jac, MASK)
    np.testing.assert_allclose(m_r, j_r.T @ j_r / j_r.shape[0], rtol=1e-10)
    np.testing.assert_allclose(m_b, j_b.T @ j_b / j_b.shape[0], rtol=1e-10)


def test_known_diagonal_problem_picks_the_best_axis():
    rng = np.random.RandomState(3)
    r = np.array([1.0, 4.0, 2.0, 0.5, 3.0, 1.0])
    b = np.array([1.0, 8.0, 0.5, 1.0, 1.0, 2.0])  # r / b = [1, .5, 4, .5, 3, .5]
    n_r, n_b = C * int(MASK.sum()), C * int((~MASK).sum())
    j_r = orthonormal(n_r, D, rng) * np.sqrt(r * n_r)
    j_b = orthonormal(n_b, D, rng) * np.sqrt(b * n_b)
    fn = LinearImage(place_rows(j_r, j_b, MASK.numpy(), C), (C, H, H))
    res = resefa_from_fn(fn, ws(1), MASK)
    np.testing.assert_allclose(res.m_r, np.diag(r), atol=1e-10)
    np.testing.assert_allclose(res.eigenvalues[:2], [4.0, 3.0], rtol=1e-8)
    np.testing.assert_allclose(np.abs(res.directions[0]), np.eye(D)[2], atol=1e-8)
    np.testing.assert_allclose(np.abs(res.directions[1]), np.eye(D)[4], atol=1e-8)


def test_top_direction_is_the_best_rayleigh_quotient():
    fn, _, _ = random_linear()
    res = resefa_from_fn(fn, ws(3), MASK)
    m_r, m_b = res.m_r, res.m_b
    assert res.directions.shape == (D, D) and res.eigenvalues.shape == (D,)
    np.testing.assert_allclose(np.linalg.norm(res.directions, axis=1), 1.0, rtol=1e-12)
    assert np.all(np.diff(res.eigenvalues) <= 0)
    # independent route: whiten M_B with a matrix square root and take the symmetric top eigenvalue
    inv_sqrt = np.linalg.inv(scipy.linalg.sqrtm(m_b).real)
    best = np.linalg.eigvalsh(inv_sqrt @ m_r @ inv_sqrt)[-1]
    top = rayleigh_quotient(res.directions[0], m_r, m_b)
    np.testing.assert_allclose(top, best, rtol=1e-8)
    np.testing.assert_allclose(res.eigenvalues[0], best, rtol=1e-8)
    trials = np.random.RandomState(5).randn(4000, D)
    quotients = np.einsum("nd,de,ne->n", trials, m_r, trials) / np.einsum("nd,de,ne->n", trials, m_b, trials)
    assert quotients.max() < top
    for value, vec in zip(res.eigenvalues, res.directions):
        np.testing.assert_allclose(m_r @ vec, value * (m_b @ vec), atol=1e-9 * np.abs(m_r).max())


def test_directions_invariant_to_scaling_the_jacobian():
    base = resefa_from_fn(random_linear()[0], ws(2), MASK)
    both = resefa_from_fn(random_linear(scale_r=7.0, scale_b=7.0)[0], ws(2), MASK)
    np.testing.assert_allclose(both.eigenvalues, base.eigenvalues, rtol=1e-8)
    np.testing.assert_allclose(both.directions, base.directions, atol=1e-8)
    inside = resefa_from_fn(random_linear(scale_r=3.0)[0], ws(2), MASK)
    np.testing.assert_allclose(inside.eigenvalues, 9.0 * base.eigenvalues, rtol=1e-8)
    np.testing.assert_allclose(inside.directions, base.directions, atol=1e-8)


def test_average_over_samples_and_per_sample_mode():
    fn, _, _ = random_linear()
    avg = resefa_from_fn(fn, ws(3), MASK)
    per = resefa_from_fn(fn, ws(3), MASK, average=False)
    assert per.directions.shape == (3, D, D) and per.eigenvalues.shape == (3, D) and per.m_r.shape == (3, D, D)
    np.testing.assert_allclose(per.directions[1], avg.directions, atol=1e-8)  # linear: same at every w
    with pytest.raises(ValueError, match="ws must be"):
        resefa_from_fn(fn, ws(3)[0], MASK)


def test_singular_background_uses_a_ridge_and_full_rank_regulariser():
    rng = np.random.RandomState(0)
    m_r = np.cov(rng.randn(D, 50))
    m_b = np.diag([1.0, 2.0, 0.0, 1.0, 1.0, 3.0])  # dimension 2 is invisible outside the region
    values, vectors = solve_directions(m_r, m_b)
    assert np.isfinite(values).all() and np.isfinite(vectors).all()
    assert np.argmax(np.abs(vectors[0])) == 2 and values[0] > 1e6
    with pytest.raises(ValueError, match="m_b is zero"):
        solve_directions(m_r, np.zeros((D, D)))
    tau = 1e-3
    v_full, n_full = solve_directions(m_r, m_b, full_rank=True, tau=tau)
    ref = scipy.linalg.eigh(m_r, m_b + tau * np.trace(m_b) * np.eye(D), eigvals_only=True)[::-1]
    np.testing.assert_allclose(v_full, ref, rtol=1e-10)
    with pytest.raises(ValueError, match="square"):
        solve_directions(m_r, m_b[:3, :3])


def test_stylegan2_jacobian_matches_finite_differences():
    gen = tiny_generator()
    w = sample_w(gen, 1)[0]
    fn = generator_image_fn(gen)
    jac = image_jacobian(fn, w)
    assert jac.shape == (3, 16, 16, gen.w_dim)
    eps = 1e-3
    with torch.no_grad():
        for k in (0, 5):
            step = torch.zeros_like(w)
            step[k] = eps
            fd = (fn(w + step) - fn(w - step)) / (2 * eps)
            # float32 synthesis and leaky-ReLU kinks: compare in norm, not element-wise
            assert float((jac[..., k] - fd).norm() / fd.norm()) < 1e-2
            assert float((jac[..., k] - fd.roll(1, dims=-1)).norm() / fd.norm()) > 0.1


def test_stylegan2_resefa_uses_official_sampling():
    gen = tiny_generator()
    z = torch.from_numpy(np.random.RandomState(4).randn(5, gen.z_dim).astype(np.float32))
    with torch.no_grad():
        expected = gen.mapping(z, None)[:, 0]
    assert torch.equal(sample_w(gen), expected)
    res = resefa_directions(gen, [8, 8, 6, 8], ws=expected[:2])
    assert res.directions.shape == (gen.w_dim, gen.w_dim) and res.ws.shape == (2, gen.w_dim)
    assert np.all(np.diff(res.eigenvalues) <= 0) and res.eigenvalues[-1] > 0


def test_forward_and_reverse_mode_jacobians_agree():
    fn, _, _ = random_linear()
    w = ws(1)[0]
    assert torch.allclose(image_jacobian(fn, w, "forward-mode"), image_jacobian(fn, w, "reverse-mode"))


def test_large_images_are_resized_and_channel_summed_like_the_official_code(monkeypatch):
    from torch.nn import functional as F

    from gen3d.models.editing import resefa

    gen = tiny_generator()
    w = sample_w(gen, 1)[0]
    with torch.no_grad():
        full = gen.synthesis(w.reshape(1, 1, -1).expand(1, gen.num_ws, -1), noise_mode="const")
    monkeypatch.setattr(resefa, "JACOBIAN_MAX_SIZE", 8)  # stands in for 256 with a 16-px generator
    out = generator_image_fn(gen)(w)
    assert out.shape == (1, 8, 8)
    assert torch.allclose(out, F.interpolate(full, scale_factor=0.5).sum(dim=1)[0], atol=1e-6)
    assert not torch.allclose(out, F.avg_pool2d(full, 2).sum(dim=1)[0], atol=1e-3)
    res = resefa_directions(gen, [4, 4, 4, 4], ws=w[None])
    assert res.directions.shape == (gen.w_dim, gen.w_dim)


def test_layer_restricted_jacobians_add_up_to_the_broadcast_one():
    gen = tiny_generator()
    w = sample_w(gen, 1)[0]
    full = image_jacobian(generator_image_fn(gen), w)
    low = image_jacobian(generator_image_fn(gen, layers=[0, 1, 2]), w)
    high = image_jacobian(generator_image_fn(gen, layers=[3, 4, 5]), w)
    assert torch.allclose(low + high, full, atol=1e-5 * float(full.abs().max()))
    assert float((low - full).norm()) > 0.05 * float(full.norm())
    with torch.no_grad():
        assert torch.equal(generator_image_fn(gen, layers=[2])(w), generator_image_fn(gen)(w))
    with pytest.raises(ValueError, match="layers"):
        generator_image_fn(gen, layers=[6])
