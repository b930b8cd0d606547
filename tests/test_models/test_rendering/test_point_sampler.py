import torch

from gen3d.models.rendering import hierarchical_depths, merge_by_depth, points_along_rays, sample_pdf, stratified_depths


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_stratified_depths_without_jitter_are_evenly_spaced():
    t = stratified_depths(2, 3, 12, 0.88, 1.12)
    assert t.shape == (2, 3, 12)
    assert torch.allclose(t[1, 2], torch.linspace(0.88, 1.12, 12))
    assert torch.equal(t, stratified_depths(2, 3, 12, 0.88, 1.12))


def test_jitter_moves_each_depth_by_at_most_half_a_spacing_and_is_seedable():
    t = stratified_depths(4, 50, 12, 0.88, 1.12, jitter=True, generator=_gen())
    base = torch.linspace(0.88, 1.12, 12)
    spacing = 0.24 / 11
    off = (t - base) / spacing
    assert off.abs().max() <= 0.5 + 1e-5 and off.abs().max() > 0.45  # pi-GAN: U(-0.5, 0.5) * spacing
    assert abs(off.mean()) < 0.02 and abs(off.var() - 1 / 12) < 0.01
    assert torch.equal(t, stratified_depths(4, 50, 12, 0.88, 1.12, jitter=True, generator=_gen()))


def test_points_along_rays():
    o = torch.tensor([[[0.0, 0.0, 1.0]]])
    d = torch.tensor([[[0.0, 0.0, -1.0]]])
    p = points_along_rays(o, d, torch.tensor([[[0.5, 1.0]]]))
    assert torch.allclose(p, torch.tensor([[[[0.0, 0, 0.5], [0.0, 0, 0.0]]]]))


def test_deterministic_inverse_cdf_matches_the_closed_form():
    bins = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    weights = torch.tensor([[1.0, 0.0, 3.0]])  # cdf at the edges: 0, 1/4, 1/4, 1
    u = torch.linspace(0, 1, 41)
    expected = torch.where(u <= 0.25, 4 * u, 2 + (u - 0.25) / 0.75)
    s = sample_pdf(bins, weights, 41, deterministic=True, eps=1e-9)
    assert torch.allclose(s[0], expected, atol=1e-5)


def test_random_inverse_cdf_matches_searchsorted_reference_and_bin_masses():
    torch.manual_seed(0)
    bins = torch.sort(torch.rand(8, 7), -1).values
    weights = torch.rand(8, 6)
    s = sample_pdf(bins, weights, 4000, generator=_gen(5))
    # the reference: the official sample_pdf with torch.searchsorted on the same u
    w = weights + 1e-5
    cdf = torch.cat([torch.zeros(8, 1), torch.cumsum(w / w.sum(-1, keepdim=True), -1)], -1)
    u = torch.rand(8, 4000, generator=_gen(5))
    inds = torch.searchsorted(cdf, u)
    below, above = (inds - 1).clamp(min=0), inds.clamp(max=6)
    cb, ca = cdf.gather(1, below), cdf.gather(1, above)
    bb, ba = bins.gather(1, below), bins.gather(1, above)
    den = torch.where(ca - cb < 1e-5, torch.ones_like(ca), ca - cb)
    assert torch.allclose(s, bb + (u - cb) / den * (ba - bb), atol=1e-6)
    counts = torch.stack([((s >= bins[:, i:i + 1]) & (s < bins[:, i + 1:i + 2])).float().mean(1) for i in range(6)], 1)
    assert (counts - w / w.sum(-1, keepdim=True)).abs().max() < 0.04


def test_hierarchical_samples_concentrate_where_the_weights_are():
    t = torch.linspace(0.88, 1.12, 12).expand(2, 5, 12)
    weights = torch.zeros(2, 5, 12)
    weights[..., 6] = 1.0
    fine = hierarchical_depths(t, weights, 12, generator=_gen())
    assert fine.shape == (2, 5, 12) and not fine.requires_grad
    lo, hi = (t[0, 0, 5] + t[0, 0, 6]) / 2, (t[0, 0, 6] + t[0, 0, 7]) / 2  # the interval sample 6 owns
    inside = ((fine >= lo) & (fine <= hi)).float().mean()
    assert inside > 0.99
    spread = hierarchical_depths(t, torch.ones(2, 5, 12), 12, deterministic=True)
    assert torch.allclose(spread[0, 0], torch.linspace(float(t[0, 0, :2].mean()), float(t[0, 0, -2:].mean()), 12),
                          atol=1e-5)


def test_merge_by_depth_sorts_and_carries_values():
    ta, tb = torch.tensor([[[0.1, 0.5]]]), torch.tensor([[[0.3, 0.7, 0.0]]])
    va, vb = ta[..., None] * 10, tb[..., None] * 10
    t, v = merge_by_depth(ta, tb, (va, vb))
    assert torch.allclose(t, torch.tensor([[[0.0, 0.1, 0.3, 0.5, 0.7]]]))
    assert torch.allclose(v[..., 0], t * 10)
