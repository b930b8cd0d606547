"""Config mistakes give one clear message naming the key, the type or the path."""

import pytest

from gen3d.utils.config import ConfigError, apply_data_root, check_data_roots, load_config
from tests.conftest import TOY_CONFIG


def test_unknown_cfg_option_key_is_named_with_suggestion():
    with pytest.raises(ConfigError, match=r"'max_epoch'.*train_cfg.*Did you mean: 'max_epochs'"):
        load_config(str(TOY_CONFIG), {"train_cfg.max_epoch": 2})


def test_unknown_top_level_cfg_option_is_refused():
    with pytest.raises(ConfigError, match="optim_wraper"):
        load_config(str(TOY_CONFIG), {"optim_wraper.optimizer.lr": 0.1})


def test_existing_and_plus_prefixed_options_are_applied():
    cfg = load_config(str(TOY_CONFIG), {"train_cfg.max_epochs": 5, "+my_note": "x"})
    assert cfg.train_cfg.max_epochs == 5 and cfg.my_note == "x"


def test_new_kwarg_of_a_typed_dict_is_allowed():
    cfg = load_config(str(TOY_CONFIG), {"model.p": 0.1})
    assert cfg.model.p == 0.1


def test_misspelt_top_level_key_in_file(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(f"_base_ = [{str(TOY_CONFIG)!r}]\noptim_wraper = dict(optimizer=dict(type='SGD', lr=1))\n")
    with pytest.raises(ConfigError, match=r"'optim_wraper'.*Did you mean 'optim_wrapper'"):
        load_config(str(bad))


def test_unregistered_type_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"model.type = 'ToyModle'.*Did you mean: 'ToyModel'"):
        load_config(str(TOY_CONFIG), {"model.type": "ToyModle"})


def test_unregistered_transform_in_pipeline(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(f"_base_ = [{str(TOY_CONFIG)!r}]\n"
                   "train_dataloader = dict(dataset=dict(pipeline=[dict(type='NoSuchTransform')]))\n")
    with pytest.raises(ConfigError, match=r"train_dataloader.dataset.pipeline.0.type = 'NoSuchTransform'"):
        load_config(str(bad))


def test_missing_config_file():
    with pytest.raises(FileNotFoundError, match="nope.py"):
        load_config("configs/nope.py")


def test_missing_data_root_is_named(tmp_path):
    cfg = load_config(str(TOY_CONFIG))
    with pytest.raises(FileNotFoundError, match=r"'data/toy-missing'.*train_dataloader.dataset.data_root"):
        check_data_roots(cfg, ("train_dataloader",))
    with pytest.raises(FileNotFoundError, match="--data-root"):
        apply_data_root(cfg, str(tmp_path / "missing"))


def test_data_root_override_reaches_every_dataset(toy_data_root):
    cfg = load_config(str(TOY_CONFIG))
    apply_data_root(cfg, str(toy_data_root))
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        assert cfg[name].dataset.data_root == str(toy_data_root)
    check_data_roots(cfg, ("train_dataloader", "val_dataloader", "test_dataloader"))


def test_epoch_loop_with_infinite_sampler_is_refused():
    with pytest.raises(ConfigError, match="InfiniteSampler.*never end"):
        load_config(str(TOY_CONFIG), {"train_dataloader.sampler.type": "InfiniteSampler"})
    cfg = load_config(str(TOY_CONFIG), {"train_dataloader.sampler.type": "InfiniteSampler",
                                        "train_cfg": dict(_delete_=True, type="IterBasedTrainLoop", max_iters=10)})
    assert cfg.train_cfg.type == "IterBasedTrainLoop"


UNIAD_TINY = TOY_CONFIG.parent / "uniad_tiny.py"


@pytest.mark.parametrize("options, message", [
    ({"model.backbon.pretrained": False}, r"'backbon' does not exist under model .*Did you mean: 'backbone'"),
    ({"model.backbon": {"pretrained": False}}, r"model.backbon: .* not an argument of UniAD.*Did you mean: 'backbone'"),
    ({"model.backbone.pretraned": False},
     r"model.backbone.pretraned: .* not an argument of TimmFeatureExtractor.*Did you mean: 'pretrained'"),
    ({"model.reconstruction.hidden_dm": 8}, r"not an argument of UniADReconstruction.*Did you mean: 'hidden_dim'"),
])
def test_nested_cfg_option_typo_is_named(options, message):
    with pytest.raises(ConfigError, match=message):
        load_config(str(UNIAD_TINY), options)


def test_nested_typo_in_config_file_is_named(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(f"_base_ = [{str(UNIAD_TINY)!r}]\nmodel = dict(backbone=dict(out_block=(1, 2)))\n")
    with pytest.raises(ConfigError, match=r"model.backbone.out_block: .*TimmFeatureExtractor.*'out_blocks'"):
        load_config(str(bad))


def test_typo_in_dataset_transform_and_hook_kwargs_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"train_dataloader.dataset.sise: .*ToyDataset.*Did you mean: 'size'"):
        load_config(str(TOY_CONFIG), {"train_dataloader.dataset.sise": 8})
    with pytest.raises(ConfigError, match=r"default_hooks.logger.intervl: .*LoggerHook.*'interval'"):
        load_config(str(TOY_CONFIG), {"default_hooks.logger.intervl": 5})
    with pytest.raises(ConfigError, match=r"train_dataloader.dataset.pipeline.2.transfroms: .*'transforms'"):
        load_config(str(UNIAD_TINY), {"train_dataloader.dataset.pipeline.2.transfroms": []})
