"""KID: polynomial kernel by hand, unbiased MMD estimator, the metric with the Inception net and the Lite0 fallback."""

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator

import gen3d.evaluation.metrics.generative_base as base
from gen3d.evaluation.metrics import KernelInceptionDistance, compute_kid
from gen3d.evaluation.metrics.fid_inception import FIDInceptionV3
from gen3d.evaluation.metrics.generative_functional import kid_subset_values, polynomial_kernel
from gen3d.registry import METRICS


def test_polynomial_kernel_by_hand():
    x = np.array([[1.0, 2.0], [0.0, -1.0]])
    y = np.array([[3.0, 1.0]])
    # (x . y / d + 1)^3 with d = 2: (5/2 + 1)^3 and (-1/2 + 1)^3
    np.testing.assert_allclose(polynomial_kernel(x, y), [[3.5**3], [0.5**3]])


def test_estimator_is_the_unbiased_mmd_on_full_sets():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) + 0.5
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    m = 5
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    cross = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    # subsets of size m = n are permutations, which leave the estimate unchanged
    values = kid_subset_values(real_feats=y, fake_feats=x, num_subsets=3)
    np.testing.assert_allclose(values, within - 2 * cross)


def test_same_distribution_is_near_zero_and_a_shift_is_positive():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    same, same_std = compute_kid(a, b, num_subsets=20, max_subset_size=100)
    shifted, _ = compute_kid(a, b + 1.0, num_subsets=20, max_subset_size=100)
    assert abs(same) < 3 * same_std + 1e-3 and shifted > 0.1 and shifted > 20 * abs(same)
    assert compute_kid(a, b, num_subsets=5, seed=3) == compute_kid(a, b, num_subsets=5, seed=3)


def test_too_few_samples():
    with pytest.raises(ValueError, match="at least 2"):
        compute_kid(np.zeros((1, 4)), np.zeros((5, 4)))


def _outputs(n, size, shift=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.randint(0, 200, (n, 3, size, size), generator=g, dtype=torch.uint8)
    fake = (real.int() + shift).clamp(0, 255).to(torch.uint8)
    return [dict(fake_img=f, real_img=r) for f, r in zip(fake, real)]


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    base._EXTRACTORS.clear()
    yield
    base._EXTRACTORS.clear()


def test_inception_kid_end_to_end_through_evaluator(fresh, tmp_path, monkeypatch):
    torch.manual_seed(0)
    net = FIDInceptionV3()
    for module in net.modules():  # variance-preserving init, so random features do not vanish with depth
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = tmp_path / "pt_inception.pth"
    torch.save(net.state_dict(), path)
    # 75 px without the 299 px resize keeps the CPU forward short; the graph is the same.
    monkeypatch.setattr(base, "FIDInceptionV3", lambda weights: FIDInceptionV3(weights=weights, resize_input=False))
    cfg = dict(type="KernelInceptionDistance", inception_weights=str(path), device="cpu", num_subsets=10,
               real_stats_name="toy", stats_dir=str(tmp_path / "stats"))
    evaluator = Evaluator(METRICS.build(cfg))
    outputs = _outputs(4, 75, shift=80)
    for i in (0, 2):
        evaluator.process(outputs[i : i + 2], data_batch=None)
    out = evaluator.evaluate(4)
    assert set(out) == {"kid", "kid_std"} and out["kid"] > 0 and out["kid_std"] >= 0
    cached = np.load(tmp_path / "stats" / "toy_inception.npz")
    assert cached["feats"].shape == (4, 2048)
    again = METRICS.build(cfg)
    assert again.real_cache is not None
    again.process(None, outputs)
    assert again.evaluate(4)["kid"] == pytest.approx(out["kid"], rel=1e-4)


def test_lite0_fallback_keys_and_features(fresh):
    with pytest.warns(UserWarning, match="NOT FID/KID"):
        metric = KernelInceptionDistance(fallback="lite0", device="cpu", num_subsets=5)
    evaluator = Evaluator(metric)
    evaluator.process(_outputs(3, 24, shift=60), data_batch=None)
    out = evaluator.evaluate(3)
    assert set(out) == {"kd_lite0", "kd_lite0_std"} and "kid" not in out
    assert metric.extractor().out_dim == 1280 and metric.results == []


def test_explicit_lite0_extractor_needs_no_fallback(fresh):
    with pytest.warns(UserWarning):
        metric = KernelInceptionDistance(feature_extractor="lite0")
    assert metric.keys == ("kd_lite0", "kd_lite0_std")
    with pytest.raises(ValueError, match="feature_extractor"):
        KernelInceptionDistance(feature_extractor="vgg")
