"""init_model reads a checkpoint's saved config as data: code in it never runs, no temporary file is left behind."""

import tempfile

import pytest
import torch

from gen3d.apis.inference import init_model
from gen3d.utils.config import load_config
from gen3d.utils.safe_config import UnsafeConfigError
from tests.conftest import REPO_ROOT

TINY_CFG = REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py"


@pytest.fixture(scope="module")
def tiny_uniad(tmp_path_factory):
    """A tiny UniAD checkpoint saved as the Runner saves one (``meta.cfg`` = ``cfg.pretty_text``), and its config."""
    from gen3d.registry import MODELS

    cfg = load_config(str(TINY_CFG))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model.to_dict())
    path = tmp_path_factory.mktemp("ckpt") / "uniad.pth"
    meta = {"cfg": cfg.pretty_text, "model_type": "UniAD", "thresholds": {"bottle": {"image": 0.5, "pixel": 0.7}}}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    return path, cfg, model.state_dict()


def _with_cfg_text(src, dst, text):
    ckpt = torch.load(src, weights_only=True)
    ckpt["meta"]["cfg"] = text
    torch.save(ckpt, dst)
    return dst


def _tmp_entries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("tmp"))  # mmengine's tempfile names


def test_code_in_a_saved_config_is_refused_and_never_runs(tiny_uniad, tmp_path):
    src, cfg, _ = tiny_uniad
    marker = tmp_path / "MARKER"
    evil = _with_cfg_text(src, tmp_path / "evil.pth", f"__import__('os').system('touch {marker}')\n{cfg.pretty_text}")
    with pytest.raises(UnsafeConfigError, match=r"evil\.pth.*line 1 holds a function call"):
        init_model(str(evil))
    assert not marker.exists()


def test_checkpoint_without_config_file_still_loads(tiny_uniad):
    src, cfg, state = tiny_uniad
    model = init_model(str(src))
    assert type(model).__name__ == "UniAD" and model.thresholds == {"bottle": {"image": 0.5, "pixel": 0.7}}
    assert model.cfg.to_dict() == cfg.to_dict()
    assert model.cfg.filename is None  # no file: bundle manifests record "checkpoint", not a deleted temporary file
    assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())


def test_no_temporary_config_files_are_left_behind(tiny_uniad, tmp_path, monkeypatch):
    src, cfg, _ = tiny_uniad
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    init_model(str(src))
    failing = _with_cfg_text(src, tmp_path / "fails.pth", cfg.pretty_text + "boom = 1 / 0\n")
    with pytest.raises(UnsafeConfigError, match="line .* BinOp"):
        init_model(str(failing))  # Config.fromstring left its temporary .py file when the text raised
    load_config(str(TINY_CFG))  # a config with _base_ files
    bad = tmp_path / "bad.py"
    bad.write_text(f"_base_ = [{str(TINY_CFG)!r}]\nboom = 1 / 0\n")
    with pytest.raises(ZeroDivisionError):
        load_config(str(bad))
    assert _tmp_entries(temp) == []


def test_custom_imports_of_a_saved_config_are_not_imported(tiny_uniad, tmp_path):
    src, _, _ = tiny_uniad
    ckpt = torch.load(src, weights_only=True)
    ckpt["meta"] = {"cfg": "custom_imports = dict(imports=['my_plugin'])\nmodel = dict(type='PluginNet')\n"}
    torch.save(ckpt, tmp_path / "plugin.pth")
    with pytest.raises(ValueError, match=r"plugin\.pth builds PluginNet from custom_imports .*pass the config file"):
        init_model(str(tmp_path / "plugin.pth"))
