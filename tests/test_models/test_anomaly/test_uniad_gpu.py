"""UniAD on the device (``pytest -m gpu``): ``--amp`` training through the Runner, its validation, and the
bundle of ``tools/deploy.py`` against the model on the device.

Skipped without CUDA; ``GEN3D_GPU_TESTS_ON_CPU=1`` runs the same bodies on CPU (bf16 autocast).
"""

import numpy as np
import pytest

from gen3d.deploy import AnomalyEnd2End, backend_outputs, build_bundle, load_eval_set, torch_outputs
from tests.conftest import REPO_ROOT
from tests.helpers.anomaly_data import CLASSES, make_mvtec_tree
from tests.helpers.device import OnDevice, assert_amp_run, max_abs_diff, ort_runner_for, strict_fp32, train_with_amp

pytestmark = pytest.mark.gpu
TINY = str(REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py")
DEPLOY = str(REPO_ROOT / "deploy" / "anomaly_onnxruntime-fp32_dynamic-batch.py")
# fp32 on the device (TF32 off) vs ONNX Runtime: 10x the CPU-vs-CPU gate of the bundle (1e-4, gen3d.deploy.parity)
DEVICE_MAP_ATOL = 1e-3
DEVICE_SCORE_ATOL = 1e-3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two AMP iterations and one validation of the tiny UniAD (thresholds fitted, ``epoch_1.pth`` saved)."""
    root = make_mvtec_tree(tmp_path_factory.mktemp("mvtec"))
    work = tmp_path_factory.mktemp("work")
    runner, recorder = train_with_amp(TINY, str(work), str(root), {"train_cfg.max_epochs": 1})
    return root, work, runner, recorder


def test_amp_training_step(trained, device):
    _, _, runner, recorder = trained
    assert_amp_run(runner, recorder, device, ["reconstruction."])
    assert len(recorder.logs) == 2  # 8 training images (val_ratio 0.34), batch 4


def test_validation_fits_thresholds(trained, device):
    _, work, runner, recorder = trained
    metrics = recorder.val_metrics
    assert metrics and all(np.isfinite(float(v)) for v in metrics.values() if isinstance(v, (int, float)))
    model = runner.model.module if hasattr(runner.model, "module") else runner.model
    assert set(model.thresholds) == set(CLASSES)
    assert all(np.isfinite(float(t)) and float(t) > 0 for th in model.thresholds.values() for t in th.values())
    assert (work / "epoch_1.pth").is_file()


def test_export_parity_against_the_device_model(trained, device, tmp_path):
    root, work, _, _ = trained
    manifest = build_bundle(DEPLOY, TINY, str(work / "epoch_1.pth"), str(tmp_path), data_root=str(root))
    assert manifest["parity"]["labels_identical"]  # the bundle's own CPU gate
    from gen3d.apis.inference import init_model
    from gen3d.utils.config import apply_data_root

    model = init_model(str(work / "epoch_1.pth"), TINY)
    apply_data_root(model.cfg, str(root))
    data = load_eval_set(model.cfg, list(model.thresholds), model.input_size, max_images=8)
    thresholds = tuple(t.numpy() for t in AnomalyEnd2End(model, list(model.thresholds)).default_thresholds(
        model.thresholds))
    run, provider = ort_runner_for(str(tmp_path / "model.onnx"), device)
    with strict_fp32():
        ref = torch_outputs(OnDevice(model, device), data, thresholds, batch_size=4)
    out = backend_outputs(run, data, batch_size=4, extra=dict(image_threshold=thresholds[0],
                                                            pixel_threshold=thresholds[1]))
    map_diff, score_diff = max_abs_diff(ref["anomaly_map"], out["anomaly_map"]), max_abs_diff(
        ref["pred_score"], out["pred_score"])
    note = f"{device} model vs ORT {provider}: map {map_diff:.3g}, score {score_diff:.3g}"
    assert map_diff <= DEVICE_MAP_ATOL and score_diff <= DEVICE_SCORE_ATOL, note
    decided = np.abs(ref["pred_score"].astype(np.float64) - 0.5) > DEVICE_SCORE_ATOL  # not on the threshold
    assert decided.mean() >= 0.5, note
    np.testing.assert_array_equal(ref["pred_label"][decided], out["pred_label"][decided], err_msg=note)
