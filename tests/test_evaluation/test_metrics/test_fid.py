"""FID: Fréchet distance vs closed forms, feature extraction, the metric end to end, cache, weights and fallback."""

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator

import gen3d.evaluation.metrics.generative_base as base
from gen3d.evaluation.metrics import (
    FrechetInceptionDistance,
    compute_fid,
    extract_features,
    frechet_distance,
    resolve_feature_extractor,
)
from gen3d.registry import METRICS


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def _sqrtm_psd(s):
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def test_diagonal_gaussians_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 1.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_full_covariances_vs_eigh():
    rng = np.random.default_rng(0)
    s1, s2 = _spd(rng, 6), _spd(rng, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    r = _sqrtm_psd(s1)  # Tr sqrtm(S1 S2) = Tr sqrtm(S1^1/2 S2 S1^1/2), the latter symmetric PSD
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * _sqrtm_psd(r @ s2 @ r))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-8)


@pytest.mark.parametrize("n", [400, 60])  # full-rank and rank-deficient (n < D) sample covariances
def test_matches_the_reference_scipy_sqrtm_route(n):
    """The eigh route equals pytorch-fid's ``Tr(sqrtm(S1 S2))`` on sample covariances like FID's."""
    from scipy import linalg

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(n, 96)), rng.normal(size=(n, 96)) * 1.5 + 0.3
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)


def test_fid_of_a_sample_with_itself_is_zero_and_grows_with_a_shift():
    feats = np.random.default_rng(1).normal(size=(200, 8))
    assert abs(compute_fid(feats, feats)) < 1e-6
    assert compute_fid(feats, feats + 1.0) == pytest.approx(8.0, rel=1e-6)  # only the means differ


def test_singular_covariances_use_the_eps_offset():
    feats = np.random.default_rng(2).normal(size=(4, 16))  # rank 3 covariance in 16-d
    assert np.isfinite(compute_fid(feats, feats[::-1] * 2))


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="shapes differ"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="N >= 2"):
        compute_fid(np.zeros((1, 4)), np.zeros((5, 4)))


def test_extract_features_batches_and_repeats_grey():
    seen = []

    def extractor(x):
        seen.append(tuple(x.shape))
        return x.float().mean(dim=(2, 3))

    images = torch.arange(5 * 4, dtype=torch.uint8).reshape(5, 1, 2, 2)
    feats = extract_features(images, extractor, batch_size=2)
    assert seen == [(2, 3, 2, 2), (2, 3, 2, 2), (1, 3, 2, 2)] and feats.shape == (5, 3)
    np.testing.assert_allclose(feats[:, 0], images.float().mean(dim=(1, 2, 3)).numpy())


# ---- the metric ------------------------------------------------------------------------------------------------


@pytest.fixture
def no_hub_cache(tmp_path, monkeypatch):
    """An empty torch.hub directory, so a checkpoint cached on this machine cannot change the outcome."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    base._EXTRACTORS.clear()
    yield
    base._EXTRACTORS.clear()


class _TinyExtractor(torch.nn.Module):
    """Per-channel mean and std: a 6-d stand-in, since sqrtm of a 2048x2048 product takes long on a shared CPU."""

    def forward(self, x):
        x = x.float()
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], 1)


@pytest.fixture
def tiny_extractor(monkeypatch, no_hub_cache, tmp_path):
    """Inception 'weights' that resolve (an empty local file) and a tiny extractor in place of the network."""
    path = tmp_path / "pt_inception.pth"
    path.write_bytes(b"")
    monkeypatch.setattr(base, "load_fid_inception_state", lambda weights: {})
    monkeypatch.setattr(base, "build_feature_extractor", lambda kind, weights, device: _TinyExtractor())
    return str(path)


def _outputs(n, size=75, channels=3, shift=0, seed=0):
    """val_step-like outputs: dicts with uint8 fake_img / real_img."""
    g = torch.Generator().manual_seed(seed)
    real = torch.randint(0, 200, (n, channels, size, size), generator=g, dtype=torch.uint8)
    fake = (real.int() + shift).clamp(0, 255).to(torch.uint8)
    return [dict(fake_img=f, real_img=r) for f, r in zip(fake, real)]


def _evaluate(metric_cfg, outputs, batch=2):
    evaluator = Evaluator(metric_cfg)
    for i in range(0, len(outputs), batch):
        evaluator.process(outputs[i : i + batch], data_batch=None)
    return evaluator.evaluate(len(outputs))


def test_metric_end_to_end_through_evaluator_and_real_stats_cache(tiny_extractor, tmp_path):
    cfg = dict(type="FrechetInceptionDistance", inception_weights=tiny_extractor, device="cpu",
               real_stats_name="toy", stats_dir=str(tmp_path / "stats"))
    same = _evaluate(METRICS.build(cfg), _outputs(4))
    assert set(same) == {"fid"} and abs(same["fid"]) < 1e-3
    assert (tmp_path / "stats" / "toy_inception.npz").is_file()
    cached = METRICS.build(cfg)
    assert cached.real_cache is not None and set(cached.real_cache) >= {"mu", "sigma"}
    cached.process(None, _outputs(4, shift=40))
    assert all(r["real"] is None for r in cached.results)  # real images are no longer encoded
    shifted = cached.evaluate(4)
    outs = _outputs(4, shift=40)
    real = extract_features(torch.stack([o["real_img"] for o in outs]), _TinyExtractor())
    fake = extract_features(torch.stack([o["fake_img"] for o in outs]), _TinyExtractor())
    assert shifted["fid"] == pytest.approx(compute_fid(real, fake), rel=1e-5) and shifted["fid"] > 100


def test_grey_images_are_repeated_and_non_uint8_rejected(tiny_extractor):
    metric = FrechetInceptionDistance(inception_weights=tiny_extractor, device="cpu")
    feats = metric.extractor()
    metric.process(None, _outputs(3, channels=1))
    grey = _outputs(3, channels=1)[0]["fake_img"].float()
    np.testing.assert_allclose(metric.results[0]["fake"][:3], [grey.mean()] * 3, rtol=1e-5)
    assert isinstance(feats, _TinyExtractor) and np.isfinite(metric.evaluate(3)["fid"])
    with pytest.raises(TypeError, match="uint8"):
        metric.process(None, [dict(fake_img=torch.rand(3, 8, 8), real_img=torch.rand(3, 8, 8))])


def test_missing_weights_without_fallback_is_a_clear_error(no_hub_cache):
    with pytest.raises(FileNotFoundError, match="inception_weights='download'") as err:
        FrechetInceptionDistance()
    assert "pt_inception-2015-12-05-6726825d.pth" in str(err.value)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        resolve_feature_extractor(inception_weights="nope.pth", fallback="lite0")  # an explicit path never falls back


def test_checkpoint_in_hub_cache_is_found_without_download(no_hub_cache, tmp_path):
    ckpt = tmp_path / "hub" / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")
    assert resolve_feature_extractor(fallback="lite0") == ("inception", str(ckpt))


def test_lite0_fallback_is_named_fd_lite0_and_warns(no_hub_cache, monkeypatch):
    with pytest.warns(UserWarning, match="NOT FID"):
        metric = FrechetInceptionDistance(fallback="lite0", device="cpu")
    assert metric.kind == "lite0" and metric.keys == ("fd_lite0",)
    monkeypatch.setattr(base, "build_feature_extractor", lambda kind, weights, device: _TinyExtractor())
    out = _evaluate(metric, _outputs(4, size=16, shift=30))
    assert set(out) == {"fd_lite0"} and out["fd_lite0"] > 0
