"""tools/infer.py and tools/deploy.py guards, run in-process (no new interpreter): spreadsheet-safe verdicts,
an unknown --class-name on a checkpoint, and a checkpoint of another family than the deploy config's."""

import csv
import importlib.util

import cv2
import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.helpers.gan import make_tiny_gan_checkpoint
from tests.test_apis.test_inference import _tiny_uniad_checkpoint

FORMULA = "=SUM(1,2)+cmd.png"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", REPO_ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exit_message(fn, *argv: str) -> str:
    with pytest.raises(SystemExit) as err:
        fn(list(argv))
    return str(err.value.code)


@pytest.fixture(scope="module")
def uniad(tmp_path_factory):
    return _tiny_uniad_checkpoint(tmp_path_factory.mktemp("ckpt") / "uniad.pth")


def test_checkpoint_verdicts_neutralise_formula_file_names(uniad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative input: the path cell is the file name itself
    cv2.imwrite(FORMULA, np.zeros((16, 16, 3), np.uint8))
    _tool("infer").main([str(uniad), FORMULA, "--out-dir", "out", "--class-name", "bottle"])
    rows = list(csv.reader(open("out/verdicts.csv")))
    assert rows[1][0] == "'" + FORMULA and rows[1][3] == "DEFECT"  # image threshold 0 in the checkpoint
    assert float(rows[1][2]) >= 0 and sorted(p.name for p in (tmp_path / "out" / "overlays").iterdir()) == [FORMULA]


def test_checkpoint_refuses_an_unknown_class_name_like_the_bundle(uniad, tmp_path):
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), np.zeros((16, 16, 3), np.uint8))
    msg = _exit_message(_tool("infer").main, str(uniad), str(image), "--out-dir", str(tmp_path / "o"),
                        "--class-name", "bottel")
    assert msg == "error: unknown class 'bottel'; this checkpoint knows: ['bottle']"
    assert not (tmp_path / "o" / "verdicts.csv").exists()


@pytest.mark.parametrize("family", ["gan", "anomaly"])
def test_deploy_names_the_checkpoint_model_type_and_the_config_task(uniad, tmp_path, family):
    if family == "gan":
        ckpt, config = make_tiny_gan_checkpoint(tmp_path / "gan.pth"), "anomaly_onnxruntime-fp32_dynamic-batch.py"
        expected = ["StyleGAN2 model (task 'generation')", "is for task 'anomaly'", "gan_onnxruntime_fp32"]
    else:
        ckpt, config = uniad, "gan_onnxruntime_fp32_dynamic.py"
        expected = ["UniAD model (task 'anomaly')", "is for task 'generation'", "anomaly_onnxruntime-fp32"]
    msg = _exit_message(_tool("deploy").main, str(REPO_ROOT / "deploy" / config), "-", str(ckpt), "--work-dir",
                        str(tmp_path / "bundle"), "--quiet")
    assert msg.startswith("error: checkpoint") and all(e in msg for e in expected), msg
    assert "no thresholds" not in msg and not (tmp_path / "bundle" / "manifest.json").exists()
