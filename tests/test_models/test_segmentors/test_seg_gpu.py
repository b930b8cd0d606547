"""Segmentors on the device (``pytest -m gpu``): ``--amp`` training of DeepLabV3+ (supervised), U2PL, MeanTeacher and
FST-D through the Runner with a validation each, and the U2PL student's bundle against the student on the device.

Skipped without CUDA; ``GEN3D_GPU_TESTS_ON_CPU=1`` runs the same bodies on CPU (bf16 autocast).
"""

import math

import pytest

from gen3d.deploy.parity import batched_outputs, check_seg_parity, load_seg_images
from gen3d.deploy.segmentation_wrapper import reference_logits, segmentor_of
from tests.conftest import REPO_ROOT
from tests.helpers.device import OnDevice, assert_amp_run, ort_runner_for, strict_fp32, train_with_amp

pytestmark = pytest.mark.gpu
CONFIGS = REPO_ROOT / "configs"
SMALL = {"train_dataloader.batch_size": 2, "train_cfg.max_epochs": 1, "train_cfg.val_interval": 1}
# name: (demo config, --cfg-options, parameter groups that must move); 4 labeled + 4 unlabeled images, batch 2 + 2.
# U2PL runs 2 epochs: the first is supervised-only (sup_only_epochs=1).
RUNS = {
    "supervised": (CONFIGS / "u2pl" / "supervised_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py", SMALL,
                   ["backbone.", "decode_head."]),
    "U2PL": (CONFIGS / "u2pl" / "u2pl_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py",
             {**SMALL, "train_cfg.max_epochs": 2, "train_cfg.val_interval": 2},
             ["student.backbone.", "student.decode_head."]),
    "MeanTeacher": (CONFIGS / "u2pl" / "meanteacher_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py", SMALL,
                    ["student.backbone.", "student.decode_head."]),
    "FST-D": (CONFIGS / "fst" / "fst-d_meanteacher_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py", SMALL,
              ["method.student."]),
}
DEPLOY = str(REPO_ROOT / "deploy" / "segmentation_onnxruntime-fp32_dynamic-batch.py")
DEVICE_LOGIT_ATOL = 1e-3  # x max(1, max |logit|): 10x the CPU-vs-CPU gate of the bundle (fp32 on the device, TF32 off)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from gen3d.datasets.seg_synthesis import build_seg_demo_dataset

    return build_seg_demo_dataset(tmp_path_factory.mktemp("segdemo"), n_labeled=4, n_unlabeled=4, n_val=4)


@pytest.fixture(scope="module")
def runs(data_root, tmp_path_factory):
    """``{name: (work_dir, runner, recorder)}``, each trained on first use."""
    cache = {}

    def get(name: str):
        if name not in cache:
            config, options, _ = RUNS[name]
            work = tmp_path_factory.mktemp(name.lower().replace("-", "_"))
            cache[name] = (work, *train_with_amp(str(config), str(work), str(data_root), dict(options)))
        return cache[name]

    return get


@pytest.mark.parametrize("name", list(RUNS))
def test_amp_training_and_validation(name, runs, device):
    _, runner, recorder = runs(name)
    assert_amp_run(runner, recorder, device, RUNS[name][2])
    if name == "U2PL":  # epoch 2 is past the supervised-only epoch: the unsupervised and contrastive terms ran
        assert {"loss_unsup", "loss_contra"} <= set(recorder.logs[-1]), recorder.logs[-1]
    metrics = recorder.val_metrics or {}
    assert math.isfinite(float(metrics.get("mIoU", "nan"))), metrics  # per-class IoU is nan for a class absent in val


def test_student_export_parity_against_the_device_model(runs, data_root, device, tmp_path):
    from gen3d.apis.inference import init_model
    from gen3d.deploy import build_bundle
    from gen3d.utils.config import apply_data_root

    work, _, _ = runs("U2PL")
    ckpt = str(work / "epoch_2.pth")
    manifest = build_bundle(DEPLOY, None, ckpt, str(tmp_path), data_root=str(data_root))
    assert manifest["parity"]["label_agreement"] == 1.0  # the bundle's own CPU gate
    model = init_model(ckpt)
    apply_data_root(model.cfg, str(data_root))
    images, _ = load_seg_images(model.cfg, None, max_images=4)
    run, provider = ort_runner_for(str(tmp_path / "model.onnx"), device)
    with strict_fp32():
        ref = reference_logits(OnDevice(segmentor_of(model)[0], device), images, batch_size=2)
    result = check_seg_parity(ref, batched_outputs(run, {"image": images}, 2), atol=DEVICE_LOGIT_ATOL,
                              what=f"onnxruntime {provider} vs {device}")
    assert result["max_abs_diff_seg_logits"] <= result["logit_gate"]
