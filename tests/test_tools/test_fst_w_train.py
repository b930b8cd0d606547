"""The demo-size FST-W config trains end to end through tools/train.py (FutureBatchDataset -> FST(mode='W'))."""

import pytest

from gen3d.datasets.seg_synthesis import build_seg_demo_dataset
from tests.conftest import run_tool

CONFIG = "configs/fst/fst-w_meanteacher_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py"


@pytest.mark.slow
def test_fst_w_demo_config_two_iterations(tmp_path):
    root = build_seg_demo_dataset(tmp_path / "data", n_labeled=4, n_unlabeled=8, n_val=1, size=64)
    # 8 unlabeled / batch 4 = 2 iterations. ema_alpha: m_t = min(1 - 1/(t+1), 0.99) instead of MeanTeacher's
    # supervised-only first epoch, so t = 0 is a plain step (m_0 = 0) and t = 1 an FST-W step on data['future'].
    out = run_tool("train.py", CONFIG, "--data-root", str(root), "--work-dir", str(tmp_path / "work"),
                   "--cfg-options", "train_cfg.max_epochs=1", "model.ema_alpha=0.99",
                   "train_dataloader.dataset.labeled.pipeline.2.crop_size=(48,48)",
                   "train_dataloader.dataset.unlabeled.pipeline.1.crop_size=(48,48)", timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert "fst_v0_loss" in log and "fst_v1_loss" in log, log[-4000:]
    assert (tmp_path / "work" / "epoch_1.pth").exists()
