"""DepthGAN metrics: RotEval (model warp parity, ~0 on a consistent scene, pooled sums), depth bins, FID on depth."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import Evaluator

import gen3d.evaluation.metrics.generative_base as base
from gen3d.evaluation.metrics import DepthBinAccuracy, FrechetInceptionDistance, KernelInceptionDistance, RotEval
from gen3d.evaluation.metrics.depthgan_metric import depthgan_yaw_warp
from gen3d.evaluation.metrics.depthgan_warp import depth_bins
from gen3d.evaluation.metrics.generative_functional import compute_fid, extract_features
from gen3d.registry import METRICS

R = 16
FOCAL = 260.0 * R / 256  # DepthGAN's 260 px at 256, scaled to R
BINS = 10


def _rand_rgbd(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 4, R, R, generator=g) * 1.6 - 0.8


def _samples(rgbd_a, yaw_a, rgbd_b, yaw_b, focal=FOCAL, shift=-0.13):
    return [dict(fake_rgbd=a, yaw=float(ya), fake_rgbd_b=b, yaw_b=float(yb), warp_focal=focal, warp_shift=shift)
            for a, ya, b, yb in zip(rgbd_a, yaw_a, rgbd_b, yaw_b)]


def _run(metric, samples, batch=2):
    evaluator = Evaluator(metric)
    for i in range(0, len(samples), batch):
        evaluator.process(samples[i : i + batch], data_batch=None)
    return evaluator.evaluate(len(samples))


def _plane_views(yaw_a, yaw_b, z0=0.6, cheat=False):
    """A textured fronto-parallel plane (metric depth ``z0``, shift 0) seen exactly from view a and from view b.

    View b is ray-cast: a's points move by ``p_b = R_y(yaw_b - yaw_a) (p_a - c) + c`` (the warp's convention, ``c``
    the midpoint of a's x and z extents); the texture is a smooth function of the plane point in a's frame.
    ``cheat`` makes view b a copy of view a (an image that ignores the yaw).
    """
    v, u = torch.meshgrid(torch.arange(R, dtype=torch.float64), torch.arange(R, dtype=torch.float64), indexing="ij")
    rx, ry = (u - R / 2) / FOCAL, (v - R / 2) / FOCAL

    def texture(x, y):
        return torch.stack([torch.sin(3 * x), torch.cos(2.5 * y), torch.sin(2 * (x + y))])

    c = torch.tensor([(-R / 2 + R / 2 - 1) / 2 / FOCAL * z0, 0.0, z0], dtype=torch.float64)
    view_a = torch.cat([texture(rx * z0, ry * z0), torch.full((1, R, R), 2 * z0 - 1.0, dtype=torch.float64)])
    if cheat:
        return view_a.float(), view_a.float()
    a = yaw_b - yaw_a
    rot = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=torch.float64)
    normal = rot @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    rays = torch.stack([rx, ry, torch.ones_like(rx)], -1)
    t = (normal @ c) / (rays @ normal)  # planar depth of b's pixels (ray z = 1)
    p_a = (t[..., None] * rays - c) @ rot + c  # R^T (p_b - c) + c, row vectors
    view_b = torch.cat([texture(p_a[..., 0], p_a[..., 1]), (2 * t - 1)[None]])
    return view_a.float(), view_b.float()


# ---- RotEval ----------------------------------------------------------------------------------------------------


def test_registered_and_built_from_config_dicts():
    assert METRICS.get("RotEval") is RotEval and METRICS.get("DepthBinAccuracy") is DepthBinAccuracy
    assert METRICS.build(dict(type="RotEval", occlusion_aware=True)).occlusion_aware
    assert isinstance(METRICS.build(dict(type="DepthBinAccuracy")), DepthBinAccuracy)


@pytest.mark.parametrize("occlusion_aware", [False, True])
def test_warp_and_bins_equal_the_model_functions(occlusion_aware):
    """RotEval's per-sample warp (focal and shift per sample) is the training losses' warp_views at those values."""
    from gen3d.evaluation.metrics.depthgan_warp import depthgan_intrinsics, warp_views

    a, b = _rand_rgbd(3, 0), _rand_rgbd(3, 1)
    yaw_a, yaw_b = torch.tensor([0.1, -0.2, 0.25]), torch.tensor([-0.15, 0.2, 0.25])
    ref = warp_views(a, yaw_a, b, yaw_b, occlusion_aware=occlusion_aware,
                     intrinsics=depthgan_intrinsics(R, R, focal=FOCAL), shift=-0.13)
    mine = depthgan_yaw_warp(a, yaw_a, b, yaw_b, FOCAL, -0.13, occlusion_aware=occlusion_aware)
    for key in ("image", "depth", "z", "mask"):
        assert torch.equal(getattr(mine, key), getattr(ref, key)), key
    assert not mine.mask.all()  # the yaw differences push pixels out of view
    edges = torch.tensor([-1.5, -1.0, -0.95, 0.0, 0.5, 0.999, 1.0, 1.3]).reshape(1, 1, 1, 8)  # clamped at both ends
    assert depth_bins(edges, BINS).tolist() == [[[0, 0, 0, 5, 7, 9, 9, 9]]]


def test_identical_views_at_the_same_yaw_score_zero():
    rgbd, yaw = _rand_rgbd(3, 2), torch.tensor([0.0, 0.2, -0.25])
    metric = RotEval()
    metric.process(None, _samples(rgbd, yaw, rgbd, yaw))
    assert np.asarray(metric.results).shape == (3, 3)  # three numbers per sample, no images
    np.testing.assert_array_equal(np.asarray(metric.results)[:, 2], R * R)  # nothing leaves the view
    out = metric.compute_metrics(metric.results)
    assert set(out) == {"roteval_depth", "roteval_rgb"}
    assert out["roteval_depth"] < 1e-6 and out["roteval_rgb"] < 1e-5


def test_consistent_plane_scores_near_zero_a_screen_copy_and_swapped_yaws_do_not():
    pairs = [(-0.2, 0.15), (0.1, -0.25), (0.05, 0.2)]
    views = [_plane_views(ya, yb) for ya, yb in pairs]
    cheat = [_plane_views(ya, yb, cheat=True) for ya, yb in pairs]
    ya, yb = [p[0] for p in pairs], [p[1] for p in pairs]
    args = dict(shift=0.0)
    good = _run(RotEval(), _samples([v[0] for v in views], ya, [v[1] for v in views], yb, **args))
    bad = _run(RotEval(), _samples([v[0] for v in cheat], ya, [v[1] for v in cheat], yb, **args))
    swapped = _run(RotEval(), _samples([v[0] for v in views], yb, [v[1] for v in views], ya, **args))
    assert good["roteval_depth"] < 2e-4 and good["roteval_rgb"] < 0.02
    for wrong in (bad, swapped):
        assert wrong["roteval_depth"] > 20 * good["roteval_depth"] and wrong["roteval_rgb"] > 5 * good["roteval_rgb"]


@pytest.mark.parametrize("occlusion_aware", [False, True])
def test_pooled_sums_over_samples_by_hand(occlusion_aware):
    """Result = sum over samples of the masked sums / total mask count (not the mean of per-sample means)."""
    from gen3d.evaluation.metrics.depthgan_warp import depthgan_intrinsics, warp_views

    a, b = _rand_rgbd(3, 3), _rand_rgbd(3, 4)
    yaw_a, yaw_b = torch.tensor([0.0, 0.2, -0.1]), torch.tensor([0.0, -0.25, 0.2])
    depth, rgb, count = [], [], []
    for i in range(3):
        w = warp_views(a[i : i + 1], yaw_a[i : i + 1], b[i : i + 1], yaw_b[i : i + 1], occlusion_aware=occlusion_aware,
                       intrinsics=depthgan_intrinsics(R, R, focal=FOCAL), shift=-0.13)
        m = w.mask.double()
        depth.append(float(((w.depth - w.z).abs() * m).sum()))
        rgb.append(float(((w.image - a[i : i + 1, :3]).abs() * m).sum()))  # summed over the 3 channels
        count.append(float(m.sum()))
    assert len(set(count)) == 3  # unequal counts: pooling and averaging means differ
    out = _run(RotEval(occlusion_aware=occlusion_aware), _samples(a, yaw_a, b, yaw_b))
    assert out["roteval_depth"] == pytest.approx(sum(depth) / sum(count), rel=1e-9)
    assert out["roteval_rgb"] == pytest.approx(sum(rgb) / sum(count), rel=1e-9)
    assert out["roteval_rgb"] != pytest.approx(np.mean(np.divide(rgb, count)), rel=1e-3)


def test_outputs_without_the_second_view_are_refused():
    rgbd = _rand_rgbd(2, 5)
    samples = [{k: v for k, v in s.items() if k not in ("fake_rgbd_b", "yaw_b")}
               for s in _samples(rgbd, [0.0, 0.1], rgbd, [0.0, 0.1])]
    with pytest.raises(ValueError, match="'fake_rgbd_b'"):
        RotEval().process(None, samples)


# ---- DepthBinAccuracy -------------------------------------------------------------------------------------------


def _bin_samples(with_real=True, real_offset=0, fake_offset=0, scale=30.0):
    depth = _rand_rgbd(3, 6)[:, 3:] * 1.5  # reaches beyond [-1, 1] (unclamped generator depth): clamped bins
    real = torch.rand(3, 1, R, R, generator=torch.Generator().manual_seed(7)) * 2 - 1

    def logits(d, offset):
        return F.one_hot((depth_bins(d, BINS) + offset) % BINS, BINS).permute(0, 3, 1, 2).float() * scale

    out = []
    for i in range(3):
        s = dict(fake_rgbd=torch.cat([torch.zeros(3, R, R), depth[i]]), fake_depth_logits=logits(depth, fake_offset)[i])
        if with_real:
            s.update(real_depth=real[i], real_depth_logits=logits(real, real_offset)[i])
        out.append(s)
    return out


def test_perfect_logits_give_accuracy_one_and_shifted_ones_lower():
    perfect = _run(DepthBinAccuracy(), _bin_samples())
    assert set(perfect) == {"real_depth_ce", "real_depth_acc", "fake_depth_ce", "fake_depth_acc"}
    assert perfect["real_depth_acc"] == 1.0 and perfect["fake_depth_acc"] == 1.0
    assert perfect["real_depth_ce"] < 1e-6 and perfect["fake_depth_ce"] < 1e-6
    shifted = _run(DepthBinAccuracy(), _bin_samples(real_offset=1, fake_offset=3))
    assert shifted["real_depth_acc"] == 0.0 and shifted["fake_depth_acc"] == 0.0
    assert shifted["real_depth_ce"] == pytest.approx(30.0, rel=1e-4)  # the true bin's logit is 30 below the max
    assert shifted["fake_depth_ce"] == pytest.approx(30.0, rel=1e-4)


def test_ce_is_the_official_mean_over_all_pixels():
    samples = _bin_samples()
    g = torch.Generator().manual_seed(8)
    for s in samples:
        s["real_depth_logits"] = torch.randn(BINS, R, R, generator=g)
    out = _run(DepthBinAccuracy(), samples)
    logits = torch.stack([s["real_depth_logits"] for s in samples])
    target = depth_bins(torch.stack([s["real_depth"] for s in samples]), BINS)
    assert out["real_depth_ce"] == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-5)
    assert out["real_depth_acc"] == pytest.approx((logits.argmax(1) == target).double().mean().item())


def test_without_real_depth_the_real_keys_are_absent_and_a_warning_says_why_once():
    metric = DepthBinAccuracy()
    with pytest.warns(UserWarning, match="has no depth"):
        out = _run(metric, _bin_samples(with_real=False))
    assert set(out) == {"fake_depth_ce", "fake_depth_acc"} and out["fake_depth_acc"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.compute_metrics([np.zeros(6) + [1, 1, 1, 0, 0, 0]])  # the second validation: no repeat
    mixed = _bin_samples()
    for s in mixed[1:]:
        del s["real_depth"], s["real_depth_logits"]
    partial = _run(DepthBinAccuracy(), mixed)  # only the sample that has depth counts
    assert partial["real_depth_acc"] == 1.0
    del mixed[0]["real_depth_logits"]
    with pytest.raises(ValueError, match="'real_depth_logits'"):
        DepthBinAccuracy().process(None, mixed)


# ---- FID / KID on depth -----------------------------------------------------------------------------------------


class _TinyExtractor(torch.nn.Module):
    """Per-channel mean and std (6-d): a cheap stand-in for the Inception / Lite0 networks."""

    def forward(self, x):
        x = x.float()
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], 1)


@pytest.fixture
def tiny_extractor(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    path = tmp_path / "pt_inception.pth"
    path.write_bytes(b"")
    monkeypatch.setattr(base, "load_fid_inception_state", lambda weights: {})
    monkeypatch.setattr(base, "build_feature_extractor", lambda kind, weights, device: _TinyExtractor())
    return str(path)


def _image_outputs(n=6, depth_shift=0, rgb_shift=0):
    g = torch.Generator().manual_seed(9)
    rgb = torch.randint(0, 200, (n, 3, R, R), generator=g, dtype=torch.uint8)
    depth = torch.randint(0, 200, (n, 1, R, R), generator=g, dtype=torch.uint8)
    def shifted(x, by):
        return (x.int() + by).clamp(0, 255).to(torch.uint8)

    return [dict(real_img=r, fake_img=shifted(r, rgb_shift), real_depth_img=d, fake_depth_img=shifted(d, depth_shift))
            for r, d in zip(rgb, depth)]


def test_fid_on_depth_reads_the_depth_images_and_keeps_the_default_keys(tiny_extractor, tmp_path):
    common = dict(inception_weights=tiny_extractor, device="cpu", real_stats_name="toy", stats_dir=str(tmp_path))
    depth_cfg = dict(fake_key="fake_depth_img", real_key="real_depth_img", key_suffix="_depth")
    rgb, depth = FrechetInceptionDistance(**common), FrechetInceptionDistance(**common, **depth_cfg)
    assert rgb.keys == ("fid",) and depth.keys == ("fid_depth",)
    assert rgb.stats_path == str(tmp_path / "toy_inception.npz")  # the default cache name is unchanged
    assert depth.stats_path == str(tmp_path / "toy_real_depth_img_inception.npz")
    evaluator = Evaluator([rgb, depth])
    outputs = _image_outputs(depth_shift=40)
    for i in (0, 3):
        evaluator.process(outputs[i : i + 3], data_batch=None)
    out = evaluator.evaluate(6)
    assert set(out) == {"fid", "fid_depth"} and abs(out["fid"]) < 1e-6 and out["fid_depth"] > 100
    feats = {k: extract_features(torch.stack([o[k] for o in outputs]), _TinyExtractor())
             for k in ("real_depth_img", "fake_depth_img")}
    assert out["fid_depth"] == pytest.approx(compute_fid(feats["real_depth_img"], feats["fake_depth_img"]), rel=1e-5)
    flipped = _run([FrechetInceptionDistance(inception_weights=tiny_extractor, device="cpu", **depth_cfg),
                    FrechetInceptionDistance(inception_weights=tiny_extractor, device="cpu")],
                   _image_outputs(rgb_shift=40), batch=3)
    assert abs(flipped["fid_depth"]) < 1e-6 and flipped["fid"] > 100


def test_kid_and_lite0_on_depth_are_named_with_the_suffix(tiny_extractor, monkeypatch):
    kid = KernelInceptionDistance(inception_weights=tiny_extractor, device="cpu", num_subsets=5,
                                  fake_key="fake_depth_img", real_key="real_depth_img", key_suffix="_depth")
    out = _run(kid, _image_outputs(depth_shift=60), batch=3)
    assert set(out) == {"kid_depth", "kid_std_depth"} and out["kid_depth"] > 0
    with pytest.warns(UserWarning, match="fd_lite0_depth"):
        lite = FrechetInceptionDistance(feature_extractor="lite0", key_suffix="_depth", fake_key="fake_depth_img",
                                        real_key="real_depth_img")
    assert lite.keys == ("fd_lite0_depth",)
    with pytest.raises(KeyError, match="fake_depth_img"):
        lite.process(None, [dict(fake_img=torch.zeros(3, R, R, dtype=torch.uint8))])
