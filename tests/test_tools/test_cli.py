"""The ``gen3d`` console command: config names resolved, tools dispatched, and a wheel that carries its configs."""

import subprocess
import sys

import pytest

from gen3d.cli import list_configs, main, resolve_configs
from gen3d.utils.repo_paths import REPO_ROOT, find_config
from tests.conftest import REPO_ROOT as CHECKOUT

LITE0 = "uniad_effnet-lite0_1xb8-200e_mvtec-224.py"


def test_find_config_by_path_name_or_stem_and_clear_errors(tmp_path):
    assert REPO_ROOT == CHECKOUT  # a checkout reads its own configs
    full = str(CHECKOUT / "configs" / "uniad" / LITE0)
    assert find_config(LITE0) == find_config("uniad/" + LITE0) == find_config(LITE0[:-3]) == full
    assert find_config(full) == full
    with pytest.raises(FileNotFoundError, match=r"did you mean \['uniad_effnet-lite0_1xb8-200e_mvtec-224.py'"):
        find_config("uniad_effnet-lite0_1xb8-200e_mvtec-225.py")
    (tmp_path / "configs" / "a").mkdir(parents=True)
    assert find_config("anomaly_onnxruntime-fp32_raw.py", "deploy").endswith("deploy/anomaly_onnxruntime-fp32_raw.py")


def test_resolve_configs_only_touches_the_config_positionals():
    argv = resolve_configs("deploy", ["anomaly_onnxruntime-fp32_raw.py", "-", "ckpt.pth", "--work-dir", "x.py"])
    assert argv[0].endswith("deploy/anomaly_onnxruntime-fp32_raw.py") and argv[1:] == ["-", "ckpt.pth",
                                                                                        "--work-dir", "x.py"]
    argv = resolve_configs("test", [LITE0, "model.pth", "--out", "r.json"])
    assert argv[0].endswith("configs/uniad/" + LITE0) and argv[1:] == ["model.pth", "--out", "r.json"]


def test_list_configs_and_unknown_names(capsys):
    rows = {r["config"]: r for r in list_configs()}
    assert rows[LITE0]["family"] == "uniad" and rows[LITE0]["data"] == "MVTecDataset data/mvtec"
    assert {r["family"] for r in rows.values()} >= {"uniad", "u2pl", "fst", "stylegan2", "depthgan", "pigan"}
    assert not any(r["data"].startswith("(cannot load") for r in rows.values())
    assert main(["train", "no_such_config.py"]) == 2
    assert "no config 'no_such_config.py'" in capsys.readouterr().err


def test_a_wheel_carries_configs_tools_and_the_console_script(tmp_path):
    """A non-editable install (no checkout beside it) names configs by file name and lists them."""
    wheels, target = tmp_path / "whl", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(CHECKOUT)], check=True, cwd=tmp_path)
    wheel = next(wheels.glob("gen3d-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, cwd=tmp_path)
    assert (target / "bin" / "gen3d").is_file()
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "NO_ALBUMENTATIONS_UPDATE": "1"}
    listed = subprocess.run([sys.executable, "-m", "gen3d.cli", "list-configs", "--family", "uniad"], cwd=tmp_path,
                            env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert LITE0 in listed.stdout and "MVTecDataset" in listed.stdout
    run = subprocess.run([sys.executable, "-m", "gen3d.cli", "train", LITE0, "--dry-run"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)  # found in the wheel, _base_ resolved, then the data check
    assert f"{target}/gen3d/_shipped/configs/uniad/{LITE0}" in run.stderr + run.stdout, run.stderr[-2000:]
