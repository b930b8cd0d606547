# U2PL at test size for the 2-process gloo test: the demo config (lite0 DeepLabV3+, folder layout) with 64 px crops,
# 2 + 2 images per step, 2 epochs (1 supervised-only), no pretrained weights. No model_wrapper_cfg: the Runner picks
# GradSyncDataParallel for a model with its own train_step. Tests pass --data-root (build_seg_demo_dataset).
_base_ = ['../../../configs/u2pl/u2pl_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py']
custom_imports = dict(imports=['tests.helpers.gan_data'], allow_failed_imports=False)
weak = dict(type='SegWeakAug', crop_size=(64, 64), scale_range=(0.75, 1.25), flip_prob=0.5, ignore_index=255)
train_dataloader = dict(batch_size=2, dataset=dict(
    labeled=dict(pipeline=[dict(type='LoadSegImage'), dict(type='LoadSegMask'), weak, dict(type='PackSegInputs')]),
    unlabeled=dict(pipeline=[dict(type='LoadSegImage'), weak, dict(type='SegStrongAug'), dict(type='PackSegInputs')])))
model = dict(backbone=dict(pretrained=False), decode_head=dict(channels=16, low_level_channels=8, repr_channels=16),
             contrastive=dict(queue_size=64, queue_size_bg=64, num_queries=8, num_negatives=4))
train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=2, by_epoch=True,
                        convert_to_iter_based=True)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
custom_hooks = [dict(type='AssertRanksInSyncHook')]
randomness = dict(seed=3, deterministic=True)
# validation and test in the main process (each of the 2 ranks would start and join 2 persistent workers otherwise)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0, persistent_workers=False)
