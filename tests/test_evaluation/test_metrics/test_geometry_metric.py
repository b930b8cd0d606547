"""GeometryMetric: registered, built from config, analytic errors against ground truth and against rendered depth."""

import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.evaluator import Evaluator
from torch import nn

from gen3d.evaluation.metrics.geometry_functional import normal_angular_error, normals_from_depth, pinhole_intrinsics
from gen3d.evaluation.metrics.geometry_metric import GeometryMetric
from gen3d.registry import METRICS

H = W = 9


def _unit(n):
    return n / n.norm(dim=0, keepdim=True)


def _samples(num=4, seed=0, **fields):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        n = _unit(torch.randn(3, H, W, generator=g))
        d = torch.rand(1, H, W, generator=g) + 0.5
        out.append({"pred_normal": n, "normal": n.clone(), "pred_depth": (d - 1) / 2, "depth": d,
                    "mask": torch.ones(H, W, dtype=torch.uint8), **fields})  # PackPoseInputs' keys; (H, W) mask
    return out


def _evaluate(cfg, samples, batch=2):
    ev = Evaluator(METRICS.build(cfg))
    for i in range(0, len(samples), batch):
        ev.process(data_samples=samples[i:i + batch], data_batch=None)
    return ev.evaluate(len(samples))


def test_registered_and_built_from_a_config_dict():
    assert METRICS.get("GeometryMetric") is GeometryMetric
    m = METRICS.build(dict(type="GeometryMetric", reference="depth", fov=12.0))
    assert isinstance(m, GeometryMetric) and m.prefix == "geometry_self" and m.fov == 12.0
    assert METRICS.build(dict(type="GeometryMetric")).prefix == "geometry"
    with pytest.raises(ValueError, match="reference"):
        GeometryMetric(reference="oracle")
    with pytest.raises(ValueError, match="unknown keys"):
        GeometryMetric(keys={"normals": "x"})


def test_identical_normals_and_aligned_depth_score_perfectly():
    res = _evaluate(dict(type="GeometryMetric"), _samples())
    assert res["geometry/normal_mean_deg"] == pytest.approx(0.0, abs=1e-3)
    assert res["geometry/normal_median_deg"] < 0.05
    assert res["geometry/normal_within_11_25"] == 1.0 and res["geometry/normal_within_30"] == 1.0
    assert res["geometry/depth_absrel"] < 1e-5 and res["geometry/depth_rmse"] < 1e-5  # gt = 2 pred + 1
    assert res["geometry/depth_delta1"] == 1.0
    raw = _evaluate(dict(type="GeometryMetric", align_depth=False), _samples())
    assert raw["geometry/depth_absrel"] > 0.5


def test_quarter_turn_is_ninety_degrees_and_mask_respected():
    samples = _samples()
    for s in samples:
        n = s["normal"]
        s["normal"] = _unit(torch.stack([n[0], n[1], torch.zeros_like(n[2])]))
        s["pred_normal"] = torch.stack([-s["normal"][1], s["normal"][0], torch.zeros_like(n[2])])
        s["pred_depth"] = s["pred_depth"].clone()
        s["pred_depth"][:, :3] = 1e3  # garbage outside the mask
        s["mask"] = torch.ones(1, H, W, dtype=torch.bool)
        s["mask"][:, :3] = False
    res = _evaluate(dict(type="GeometryMetric"), samples)
    assert res["geometry/normal_mean_deg"] == pytest.approx(90.0, abs=1e-3)
    assert res["geometry/normal_median_deg"] == pytest.approx(90.0, abs=0.05)
    assert res["geometry/normal_within_30"] == 0.0
    assert res["geometry/depth_absrel"] < 1e-5  # masked rows ignored by the fit and the errors


def test_pooled_median_matches_the_exact_one():
    g = torch.Generator().manual_seed(5)
    samples = [{"pred_normal": _unit(torch.randn(3, H, W, generator=g)), "normal": _unit(torch.randn(3, H, W,
                generator=g))} for _ in range(6)]
    res = _evaluate(dict(type="GeometryMetric"), samples, batch=4)
    exact = normal_angular_error(torch.stack([s["pred_normal"] for s in samples]),
                                 torch.stack([s["normal"] for s in samples]))
    assert res["geometry/normal_mean_deg"] == pytest.approx(exact["mean"], abs=1e-4)
    assert res["geometry/normal_median_deg"] == pytest.approx(exact["median"], abs=0.05)
    assert res["geometry/normal_within_22_5"] == pytest.approx(exact["within_22_5"])
    assert "geometry/depth_absrel" not in res  # no depth pair, no depth keys


def test_missing_inputs_raise_a_clear_error():
    m = GeometryMetric()
    m.process(None, [{"pred_normal": torch.zeros(3, H, W)}])
    with pytest.raises(ValueError, match="no sample carried"):
        m.compute_metrics(m.results)


def test_self_consistency_of_normals_with_rendered_depth():
    k = pinhole_intrinsics(30.0, H, W)
    g = torch.Generator().manual_seed(2)
    depth = torch.rand(3, 1, H, W, generator=g) * 0.3 + 1.0
    normal = normals_from_depth(depth, k, "z")
    normal[..., 0, :] = torch.tensor([0.0, 0.0, 1.0])[:, None]  # a generator's border; ours is invalid there
    good = [{"fake_normal": n, "fake_depth": d} for n, d in zip(normal, depth)]
    res = _evaluate(dict(type="GeometryMetric", reference="depth", fov=30.0), good)
    assert res["geometry_self/normal_mean_deg"] < 1e-3
    flipped = [{"fake_normal": -n, "fake_depth": d, "fake_mask": torch.ones(1, H, W)} for n, d in zip(normal, depth)]
    res = _evaluate(dict(type="GeometryMetric", reference="depth", fov=30.0), flipped)
    assert res["geometry_self/normal_mean_deg"] == pytest.approx(180.0, abs=1e-3)
    with_k = [{**s, "intrinsics": k} for s in good]
    assert _evaluate(dict(type="GeometryMetric", reference="depth"), with_k)["geometry_self/normal_mean_deg"] < 1e-3
    with_fov = [{**s, "fov": 30.0} for s in good]  # as PackPoseInputs stores it
    assert _evaluate(dict(type="GeometryMetric", reference="depth"), with_fov)["geometry_self/normal_mean_deg"] < 1e-3
    with pytest.raises(ValueError, match="nor 'fov'"):
        _evaluate(dict(type="GeometryMetric", reference="depth"), good)


class _TiltedPlaneGenerator(nn.Module):
    """Renders a plane facing the camera but tilted by ``tilt``; its normal output is exact when ``lie`` is 0."""

    z_dim, c_dim, pose_dim, img_resolution, img_channels, fov, depth_kind = 4, 0, 2, H, 3, 30.0, "z"

    def __init__(self, lie: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.lie = lie

    def sample_pose(self, n, device=None, generator=None):
        return torch.rand(n, 2, generator=generator).to(device)

    def forward(self, z, c=None, pose=None, noise_mode="random"):
        n, tilt = len(z), 0.3
        k = pinhole_intrinsics(self.fov, H, W)
        x = (torch.arange(W) - k[0, 2]) / k[0, 0]
        depth = (1.0 / (1 - math.tan(tilt) * x)).expand(n, 1, H, W)  # plane z = -1 - tan(tilt) X (camera)
        normal = torch.tensor([math.sin(tilt + self.lie), 0.0, math.cos(tilt + self.lie)]).view(1, 3, 1, 1)
        return SimpleNamespace(image=torch.zeros(n, 3, H, W), depth=depth, normal=normal.expand(n, 3, H, W))


def test_evaluate_generator_through_the_interface():
    m = METRICS.build(dict(type="GeometryMetric", reference="depth"))
    assert m.evaluate_generator(_TiltedPlaneGenerator(), num_samples=3, batch_size=2)["normal_mean_deg"] < 1e-3
    lie = m.evaluate_generator(_TiltedPlaneGenerator(lie=math.radians(10)), num_samples=3)
    assert lie["normal_mean_deg"] == pytest.approx(10.0, abs=1e-3) and lie["normal_within_11_25"] == 1.0
    assert m.results == [] and m.fov is None
    with pytest.raises(ValueError, match="reference='depth'"):
        GeometryMetric().evaluate_generator(_TiltedPlaneGenerator())
