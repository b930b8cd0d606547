"""Every config under configs/ loads, passes gen3d's checks, and (for full configs) builds its model."""

from pathlib import Path

import pytest

from gen3d.registry import MODELS
from gen3d.utils.config import load_config
from tests.conftest import REPO_ROOT

ALL_CONFIGS = sorted(p for p in (REPO_ROOT / "configs").rglob("*.py"))
FULL_CONFIGS = [p for p in ALL_CONFIGS if "_base_" not in p.parts]


def _offline(model_cfg):
    """Configs may ask for hub weights; tests never download, so switch pretrained weights off."""
    if isinstance(model_cfg, dict):
        if model_cfg.get("pretrained") not in (None, False, "lite0-offline"):
            model_cfg["pretrained"] = False
        for value in model_cfg.values():
            _offline(value)
    elif isinstance(model_cfg, (list, tuple)):
        for value in model_cfg:
            _offline(value)


def test_configs_were_found():
    assert len(ALL_CONFIGS) > 0, "no config files found: the glob is wrong"


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: str(Path(p).relative_to(REPO_ROOT / "configs")))
def test_config_loads(path):
    cfg = load_config(str(path))
    if path in FULL_CONFIGS:
        assert cfg.default_scope == "gen3d", "full configs inherit configs/_base_/default_runtime.py"
        assert "model" in cfg


def _stand_in_generator(model_cfg, tmp_path):
    """PadInv configs name the StyleGAN2 checkpoint to invert on the command line: give them a tiny one."""
    if model_cfg.get("type") == "PadInv" and model_cfg.get("generator_ckpt") is None:
        from tests.helpers.gan import make_tiny_gan_checkpoint

        model_cfg["generator_ckpt"] = str(make_tiny_gan_checkpoint(tmp_path / "gan.pth"))
        if model_cfg["encoder"].get("backbone") == "ir_se50":  # IR-SE50 needs its 256-px input to build its heads
            pytest.importorskip("gen3d.models.backbones.iresnet", reason="the IR-SE50 backbone is not in this tree")
            model_cfg["encoder"]["resolution"] = model_cfg.get("image_size") or 256
        model_cfg["image_size"] = None  # the tiny generator's own resolution


@pytest.mark.parametrize("path", FULL_CONFIGS, ids=lambda p: str(Path(p).relative_to(REPO_ROOT / "configs")))
def test_config_builds_model(path, tmp_path):
    cfg = load_config(str(path))
    _offline(cfg.model)
    _stand_in_generator(cfg.model, tmp_path)
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
