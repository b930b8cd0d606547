"""GeneratedDepthError: DepthGAN's GeneratedDepthEval with a stand-in ONNX estimator built in the test."""

import warnings

import pytest
import torch

import gen3d.models.depth_estimation  # noqa: F401 - registers DepthEstimator in TASK_UTILS
from gen3d.evaluation.metrics.generated_depth_metric import GEN_DEPTH_KEY, GeneratedDepthError, generated_depth_l1
from gen3d.registry import METRICS
from tests.test_models.test_depth_estimation import make_onnx

R = 12


def _samples(n=3, normalise="batch", seed=0):
    """Fakes whose depth is exactly what the red-channel estimator (mean 0, std 1) predicts, normalised officially."""
    img = torch.randint(0, 256, (n, 3, R, R), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    pred = img[:, :1].double() / 255
    dims = (1, 2, 3) if normalise == "image" else (0, 1, 2, 3)
    p = pred - pred.amin(dims, keepdim=True) + 0.01
    depth = (2 * p / p.amax(dims, keepdim=True) - 1).float()
    return [{"fake_img": img[i], "fake_depth": depth[i]} for i in range(n)]


def _run(metric, samples):
    metric.process(None, samples[:2])
    metric.process(None, samples[2:])
    return metric.evaluate(len(samples))


@pytest.mark.parametrize("normalise", ["batch", "image"])
def test_estimator_that_predicts_the_generated_depth_gives_zero(tmp_path, normalise):
    red = make_onnx(tmp_path / "red.onnx")
    samples = _samples(4, normalise) if normalise == "image" else _samples(2) + _samples(2, seed=1)
    metric = METRICS.build(dict(type="GeneratedDepthError", estimator=dict(model=red), normalise=normalise))
    res = _run(metric, samples)
    assert set(res) == {GEN_DEPTH_KEY} and res[GEN_DEPTH_KEY] < 1e-6
    green = make_onnx(tmp_path / "green.onnx", weights=(0.0, 1.0, 0.0))
    assert _run(GeneratedDepthError(estimator=green, normalise=normalise), samples)[GEN_DEPTH_KEY] > 0.05


def test_batch_and_image_normalisation_differ_as_the_official_batch_min_max():
    torch.manual_seed(0)
    depth, pred = torch.rand(2, 1, 4, 4) * 2 - 1, torch.rand(2, 1, 4, 4) * torch.tensor([1.0, 5.0]).view(2, 1, 1, 1)
    p = pred.double() - pred.min() + 0.01
    official = ((depth.double() + 1) * 0.5 - p / p.max()).abs().mean((1, 2, 3))
    torch.testing.assert_close(generated_depth_l1(depth, pred), official)
    assert not torch.allclose(generated_depth_l1(depth, pred, "image"), official)
    with pytest.raises(ValueError, match="normalise"):
        generated_depth_l1(depth, pred, "pixel")


def test_callable_estimator_and_missing_keys():
    samples = _samples(normalise="image")
    metric = GeneratedDepthError(estimator=lambda x: x[:, :1].float() / 255, normalise="image")
    assert _run(metric, samples)[GEN_DEPTH_KEY] < 1e-6
    with pytest.raises(ValueError, match="fake_depth"):
        metric.process(None, [{"fake_img": samples[0]["fake_img"]}])


def test_without_weights_the_metric_is_off_and_warns(tmp_path):
    with pytest.warns(UserWarning, match="no estimator given"):
        metric = GeneratedDepthError()
    assert not metric.enabled and _run(metric, _samples()) == {} and metric.compute_metrics([]) == {}
    missing = str(tmp_path / "leres.onnx")
    with pytest.warns(UserWarning, match="leres.onnx.*does not exist"):
        metric = GeneratedDepthError(estimator=dict(model=missing, output_kind="depth"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning, at construction: none while evaluating
        assert _run(metric, _samples()) == {}
    with pytest.warns(UserWarning, match="hubconf.py"):
        GeneratedDepthError(estimator=dict(model=f"hub:{tmp_path}:leres"))


def test_a_malformed_estimator_file_fails_loudly(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="bad.onnx"):
        GeneratedDepthError(estimator=str(bad))
