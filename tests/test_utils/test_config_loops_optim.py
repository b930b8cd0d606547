"""Misspelt keys under train_cfg / val_cfg / test_cfg / optim_wrapper and unknown timm backbones: one ConfigError."""

import pytest

from gen3d.utils.config import ConfigError, load_config
from tests.conftest import REPO_ROOT, TOY_CONFIG

DATA_CONFIGS = REPO_ROOT / "tests" / "data" / "configs"
UNIAD_TINY, U2PL_TINY, GAN_TINY = (DATA_CONFIGS / n for n in ("uniad_tiny.py", "u2pl_tiny.py", "stylegan2_tiny.py"))


@pytest.mark.parametrize("config, options, message", [
    (TOY_CONFIG, {"+train_cfg.max_epoch": 3}, r"train_cfg\.max_epoch: .*EpochBasedTrainLoop.*mean: 'max_epochs'"),
    (UNIAD_TINY, {"train_cfg.max_epoch": 3}, r"train_cfg\.max_epoch: .*EpochBasedTrainLoop .*'max_epochs'"),
    (TOY_CONFIG, {"train_cfg": dict(_delete_=True, type="IterBasedTrainLoop", max_iter=9)}, r"IterBased.*'max_iters'"),
    (TOY_CONFIG, {"+val_cfg.fp17": True}, r"val_cfg\.fp17: .*ValLoop.*Did you mean: 'fp16'"),
    (TOY_CONFIG, {"+test_cfg.fp17": True}, r"test_cfg\.fp17: .*TestLoop.*'fp16'"),
    (UNIAD_TINY, {"train_cfg.type": "EpochBasedTrainLop"}, r"train_cfg.type.*loop registry.*'EpochBasedTrainLoop'"),
    (TOY_CONFIG, {"train_cfg": dict(type="IterBasedTrainLoop", max_iters=9)}, r"both 'type' and 'by_epoch'"),
    (TOY_CONFIG, {"optim_wrapper.optimizer.lrr": 0.1}, r"optim_wrapper\.optimizer\.lrr: .*SGD.*Did you mean: 'lr'"),
    (UNIAD_TINY, {"optim_wrapper.optimizer.lrr": 0.1}, r"optim_wrapper\.optimizer\.lrr: .*AdamW.*'lr'"),
    (TOY_CONFIG, {"optim_wrapper.optimizer.type": "SDG"}, r"optimizer\.type = 'SDG' .*optimizer registry.*'SGD'"),
    (TOY_CONFIG, {"+optim_wrapper.clip_gard": dict(max_norm=1)}, r"optim_wrapper\.clip_gard: .*OptimWr.*'clip_grad'"),
    (TOY_CONFIG, {"+optim_wrapper.clip_grad": dict(max_nrom=1)}, r"clip_grad\.max_nrom: .*clip_grad_norm_.*'max_norm'"),
    (TOY_CONFIG, {"+optim_wrapper.paramwise_cfg": dict(norm_decay=0)}, r"paramwise_cfg\.norm_decay: .*'norm_decay_"),
    (GAN_TINY, {"optim_wrapper.generator.optimizer.bettas": (0, 0.9)}, r"generator\.optimizer\.bettas: .*Adam.*'beta"),
    (GAN_TINY, {"+optim_wrapper.generator.acumulative_counts": 2}, r"generator\.acumulative_counts: .*'accumulative_"),
])
def test_misspelt_loop_and_optim_keys_are_refused(config, options, message):
    with pytest.raises(ConfigError, match=message):
        load_config(str(config), options)


def test_misspelt_optimizer_key_in_a_file_is_refused(tmp_path):
    bad, other = tmp_path / "bad.py", tmp_path / "other.py"
    other.write_text(f"_base_ = [{str(TOY_CONFIG)!r}]\noptim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))\n")
    with pytest.raises(ConfigError, match=r"optimizer\.momentum: .*AdamW"):  # SGD's momentum merged into AdamW
        load_config(str(other))
    bad.write_text(f"_base_ = [{str(TOY_CONFIG)!r}]\n"
                   "optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lrr=1e-3))\n")
    with pytest.raises(ConfigError, match=r"optim_wrapper\.optimizer\.lrr: .*AdamW.*bad\.py.*'lr'"):
        load_config(str(bad))


def test_valid_loop_and_optim_keys_are_accepted():
    cfg = load_config(str(TOY_CONFIG), {
        "optim_wrapper.optimizer.momentum": 0.5, "+optim_wrapper.clip_grad": dict(max_norm=1.0, norm_type=2),
        "+optim_wrapper.accumulative_counts": 2, "+optim_wrapper.paramwise_cfg": dict(norm_decay_mult=0.0),
        "+val_cfg.fp16": False, "train_cfg.val_interval": 2})
    assert cfg.optim_wrapper.accumulative_counts == 2 and cfg.train_cfg.val_interval == 2
    cfg = load_config(str(TOY_CONFIG), {"optim_wrapper.type": "CPUAutocastOptimWrapper",
                                        "+optim_wrapper.dtype": "bf16"})
    assert cfg.optim_wrapper.dtype == "bf16"  # the wrapper's own kwarg and OptimWrapper's (through **kwargs)


@pytest.mark.parametrize("config, name, close", [
    (UNIAD_TINY, "tf_efficientnet_lite00", "'tf_efficientnet_lite0'"),  # TimmFeatureExtractor
    (U2PL_TINY, "resnet101z", "'resnet101"),  # TimmSegBackbone
])
def test_unknown_timm_backbone_is_named_with_close_timm_names(config, name, close):
    with pytest.raises(ConfigError, match=rf"model\.backbone\.model_name = '{name}' is not a timm model.*{close}"):
        load_config(str(config), {"model.backbone.model_name": name})


def test_unknown_timm_backbone_at_build_time_is_a_value_error():
    from gen3d.models.backbones import TimmFeatureExtractor, TimmSegBackbone

    for cls in (TimmFeatureExtractor, TimmSegBackbone):
        with pytest.raises(ValueError, match=r"model_name = 'efficientnet_b44' is not a timm model.*'efficientnet_b4'"):
            cls(model_name="efficientnet_b44")
