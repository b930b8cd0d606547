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


# ---------------------------------------------------------------- FST semi-supervised (Mean-Teacher baseline) configs
FST_DIR = REPO_ROOT / "configs" / "fst"
FST_VOC662 = "fst-d_meanteacher_deeplabv3plus-r101-os8_4xb4-40e_voc12aug-512-662.py"
MT_VOC662 = "meanteacher_deeplabv3plus-r101-os8_4xb4-40e_voc12aug-512-662.py"
#: FST semi_seg/experiments/pascal/662/mt{,_fst}/config.yaml (drop_percent 80, apply_aug False, ema_decay 0.99, no
#: sup_only_epoch key) and train_semi.py (one student pass on [x_l; x_u], weak view).
FST_MT_METHOD = dict(sup_only_epochs=0, ema_momentum=0.99, pseudo_filter="entropy", keep_percent=80.0,
                     student_view="weak", joint_forward=True, cutmix_prob=0.0)


def test_seg_sgd_40e_is_the_80e_recipe_over_40_epochs():
    short, long = (load_config(str(BASE / "schedules" / f"seg_sgd_{n}e.py")) for n in (40, 80))
    assert short.optim_wrapper == long.optim_wrapper and short.auto_scale_lr == long.auto_scale_lr
    assert short.train_cfg.max_epochs == 40 and short.param_scheduler[0]["end"] == 40
    assert {**short.param_scheduler[0], "end": 80} == long.param_scheduler[0]


def test_fst_voc662_configs_follow_the_official_recipe():
    fst, mt = load_config(str(FST_DIR / FST_VOC662)), load_config(str(FST_DIR / MT_VOC662))
    for cfg in (fst, mt):  # 40 epochs, SGD 1e-3 (decoder x10), momentum 0.9, wd 1e-4, poly 0.9 per iteration
        assert cfg.train_cfg.max_epochs == 40 and cfg.train_cfg.val_interval == 1
        assert cfg.optim_wrapper.optimizer == dict(type="SGD", lr=1e-3, momentum=0.9, weight_decay=1e-4)
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {"decode_head": dict(lr_mult=10.0)}
        sched = cfg.param_scheduler[0]
        assert (sched["type"], sched["power"], sched["end"], sched["eta_min"]) == ("PolyLR", 0.9, 40, 0.0)
        assert sched["convert_to_iter_based"] and cfg.auto_scale_lr.base_batch_size == 16
        loader = cfg.train_dataloader  # 4 labeled + 4 unlabeled per GPU, blender 1/16 lists, crop 513
        assert loader.batch_size == 4
        assert loader.dataset.labeled.split == "data/splits/pascal/662/labeled.txt"
        assert loader.dataset.unlabeled.split == "data/splits/pascal/662/unlabeled.txt"
        for stream in (loader.dataset.labeled, loader.dataset.unlabeled):
            weak = next(t for t in stream.pipeline if t["type"] == "SegWeakAug")
            assert tuple(weak["crop_size"]) == (513, 513) and tuple(weak["scale_range"]) == (0.5, 2.0)
        assert cfg.sync_bn == "torch" and cfg.model.decode_head.num_classes == 21
        assert not cfg.model.decode_head.with_repr  # no contrastive loss
    method = fst.model.method
    assert fst.model.type == "FST" and method.type == "MeanTeacher"
    assert {k: method[k] for k in FST_MT_METHOD} == FST_MT_METHOD
    assert {k: fst.model[k] for k in ("mode", "k", "ema_alpha", "same_batch", "ema_after_real_step",
                                      "restore_optimizer", "restore_buffers")} == dict(
        mode="D", k=3, ema_alpha=None, same_batch=True, ema_after_real_step=True, restore_optimizer=False,
        restore_buffers=False)  # spec B1: hard-coded 3 virtual steps, one more EMA, parameters only restored
    # the MT counterpart: same recipe and inner method, no FST wrapper
    assert mt.model.type == "MeanTeacher" and {k: mt.model[k] for k in FST_MT_METHOD} == FST_MT_METHOD
    assert {k: v for k, v in mt.model.items() if k != "type"} == {
        **{k: v for k, v in fst.model.items() if k in mt.model and k != "type"}, **{
            k: v for k, v in method.items() if k != "type"}}
    for key in ("train_dataloader", "val_dataloader", "optim_wrapper", "param_scheduler", "train_cfg", "randomness"):
        assert fst[key] == mt[key], key


@pytest.mark.parametrize("name", [FST_VOC662, MT_VOC662])
def test_fst_voc662_configs_build(name):
    from gen3d.models.segmentors import FST, MeanTeacher

    cfg = load_config(str(FST_DIR / name))
    cfg.model.backbone.pretrained = False  # tests never download
    model = MODELS.build(cfg.model)
    inner = model.method if isinstance(model, FST) else model
    assert isinstance(inner, MeanTeacher) and (name == MT_VOC662) == (model is inner)
    assert (inner.pseudo_filter, inner.keep_percent, inner.student_view, inner.joint_forward) == (
        "entropy", 80.0, "weak", True)
    assert inner.cutmix_prob == 0.0 and inner.teacher_bn and inner.eval_model == "teacher"
    assert inner.sup_only_epochs == 0 and inner.iters_per_epoch is None
    inner.iters_per_epoch = 620  # 9 920 unlabeled / (4 GPUs x 4)
    assert inner.momentum_at(0) == inner.momentum_at(619) == 0.0  # epoch 0 copies the student (no sup_only_epoch)
    assert inner.momentum_at(620) == 0.99  # min(1 - 1 / (i_iter + 1), ema_decay) of train_semi.py
    if model is not inner:
        assert (model.mode, model.k, model.restore_optimizer, model.restore_buffers) == ("D", 3, False, False)


@pytest.mark.parametrize("name,cutmix_prob", [
    ("fst-d_meanteacher_deeplabv3plus-r101-os8_4xb4-80e_voc12aug-512-1464.py", 0.0),  # official "mt" variant
    ("fst-d_meanteacher_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py", 0.5),  # official "cutmix" variant
    ("fst-w_meanteacher_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py", 0.5),
])
def test_fst_ssl_configs_use_the_fst_mean_teacher_baseline(name, cutmix_prob):
    from gen3d.models.segmentors.teacher_student import EMA_MOMENTUM

    method = load_config(str(FST_DIR / name)).model.method
    expected = {**FST_MT_METHOD, "cutmix_prob": cutmix_prob}
    assert method.type == "MeanTeacher"
    assert {k: method.get(k, EMA_MOMENTUM if k == "ema_momentum" else None) for k in expected} == expected


# DACS (DAFormer / FST UDA self-training) GTA5 -> Cityscapes configs: official values, and they build offline.
DACS_SUFFIX = "deeplabv3plus-r101-os8_1xb2-40k_gta5-to-cityscapes-512.py"
DACS_VALUES = dict(ema_momentum=0.999, pseudo_threshold=0.968, pseudo_weight_ignore_top=15,
                   pseudo_weight_ignore_bottom=120, color_jitter_strength=0.2, color_jitter_probability=0.2, blur=True,
                   imnet_feature_dist_lambda=0.005, imnet_feature_dist_classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
                   imnet_feature_dist_scale_min_ratio=0.75, eval_model='student')
DACS_CONFIGS = {name: REPO_ROOT / "configs" / "fst" / f"{name}_{DACS_SUFFIX}"
                for name in ("dacs", "fst-d_dacs", "fst-w_dacs")}


@pytest.mark.parametrize("name", sorted(DACS_CONFIGS))
def test_dacs_uda_configs_have_the_official_values_and_build(name):
    cfg = load_config(str(DACS_CONFIGS[name]))
    dacs = cfg.model if name == "dacs" else cfg.model.method
    assert {k: dacs[k] for k in DACS_VALUES} == DACS_VALUES and dacs.type == "DACS"
    if name != "dacs":
        assert cfg.model.type == "FST" and cfg.model.mode == name[4].upper() and cfg.model.k == 3
        assert cfg.model.ema_alpha == 0.999 and cfg.model.ema_after_real_step == (name == "fst-w_dacs")
    assert cfg.optim_wrapper.optimizer.lr == 6e-5 and cfg.train_cfg.max_iters == 40000
    assert cfg.train_dataloader.batch_size == 2 and cfg.model.decode_head.num_classes == 19
    data = cfg.train_dataloader.dataset
    assert data.rare_class_sampling == dict(class_temp=0.01, min_pixels=3000, min_crop_ratio=0.5)
    assert data.type == ("FutureBatchDataset" if name == "fst-w_dacs" else "SemiSupervisedDataset")
    cfg.model.backbone.pretrained = False  # tests never download
    model = MODELS.build(cfg.model)
    method = model if name == "dacs" else model.method
    assert type(method).__name__ == "DACS" and method.imnet_backbone is not None and method.num_classes == 19
    assert (method.psweight_ignore_top, method.psweight_ignore_bottom, method.fd_classes[0]) == (15, 120, 6)


def test_fst_dacs_configs_differ_from_the_dacs_baseline_only_by_the_fst_wrapper():
    base, fst_d = (load_config(str(DACS_CONFIGS[n])) for n in ("dacs", "fst-d_dacs"))
    assert {k: v for k, v in base.model.items() if k != "type"} == {
        **{k: v for k, v in fst_d.model.items() if k in base.model and k != "type"},
        **{k: v for k, v in fst_d.model.method.items() if k != "type"}}
    for key in ("train_dataloader", "val_dataloader", "optim_wrapper", "param_scheduler", "train_cfg", "randomness"):
        assert base[key] == fst_d[key], key
