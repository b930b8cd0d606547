"""The DeepLabV3+ base model configs build offline and run; the U2PL schedule has the paper's numbers."""

import pytest
import torch

from gen3d.registry import MODELS
from gen3d.utils.config import load_config
from tests.conftest import REPO_ROOT

BASE = REPO_ROOT / "configs" / "_base_"


@pytest.mark.parametrize("name,stride", [("r101-os8", 8), ("r50-os16", 16), ("lite0", 16)])
def test_base_model_configs_build_and_run(name, stride):
    cfg = load_config(str(BASE / "models" / f"deeplabv3plus_{name}.py"))
    if cfg.model.backbone.pretrained != "lite0-offline":
        cfg.model.backbone.pretrained = False  # tests never download
    model = MODELS.build(cfg.model).eval()
    assert model.backbone.out_strides == [4, stride]
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 21, 64, 64) and torch.isfinite(out).all()


def test_u2pl_voc_schedule():
    cfg = load_config(str(BASE / "schedules" / "seg_sgd_80e.py"))
    assert cfg.optim_wrapper.optimizer == dict(type="SGD", lr=1e-3, momentum=0.9, weight_decay=1e-4)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys["decode_head"]["lr_mult"] == 10.0
    assert cfg.param_scheduler[0]["power"] == 0.9 and cfg.train_cfg.max_epochs == 80
