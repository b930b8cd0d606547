"""tools/train.py --log-to: TensorBoard (MMEngine's visualizer backend) gets the training scalars; clear refusals."""

import importlib.util

import pytest

from tests.conftest import TOY_CONFIG, run_tool, run_tool_main


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                    reason="tensorboard is not installed (pip install 'gen3d[logging]'; the dev extra has it)")
def test_tensorboard_event_file_holds_the_training_loss(tmp_path, toy_data_root):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    work = tmp_path / "w"
    out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(work), "--data-root", str(toy_data_root),
                   "--log-to", "tensorboard", "--cfg-options", "train_cfg.max_epochs=1",
                   "default_hooks.logger.interval=1")
    assert out.returncode == 0, out.stderr[-3000:]
    events = list(work.rglob("events.out.tfevents.*"))
    assert len(events) == 1, list(work.rglob("*"))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert "loss" in acc.Tags()["scalars"] and len(acc.Scalars("loss")) >= 1


def test_unknown_or_missing_backend_is_one_clear_line(tmp_path, toy_data_root, monkeypatch):
    out = run_tool_main("train.py", str(TOY_CONFIG), "--work-dir", str(tmp_path), "--data-root",
                        str(toy_data_root), "--log-to", "visdom", "--dry-run")
    assert out.returncode != 0 and "unknown backend 'visdom'" in out.stderr
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    out = run_tool_main("train.py", str(TOY_CONFIG), "--work-dir", str(tmp_path), "--data-root",
                        str(toy_data_root), "--log-to", "mlflow", "--dry-run")
    assert out.returncode != 0 and "the mlflow package is not installed (pip install mlflow)" in out.stderr
