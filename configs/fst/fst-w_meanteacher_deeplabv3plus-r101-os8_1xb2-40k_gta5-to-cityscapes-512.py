# FST-W UDA GTA5 -> Cityscapes (official configs/fst_w/stepstep_gta2cs_*_r101_s0_step3.py): 2 source + 2 target, crop
# 512, K = 3 virtual students, each one step from the snapshot on its own 2 + 2 independently drawn samples
# (FutureBatchDataset ~ official StepUDADataset, ahead_step=3); EMA 0.999 with their mean, real step, one more EMA;
# parameters only restored. Optimiser / schedule / deviations as the FST-D config; no RCS: uniform future draws.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/gta5-to-cityscapes.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(dataset=dict(type='FutureBatchDataset', k=3))
model = dict(type='FST', mode='W', k=3, same_batch=False, ema_alpha=0.999, ema_after_real_step=True,
             restore_optimizer=False, restore_buffers=False, decode_head=dict(num_classes=19),
             method=dict(type='MeanTeacher', conf_thresh=0.968, cutmix_prob=1.0, eval_model='teacher'))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
                     paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}, norm_decay_mult=0.0))
param_scheduler = [dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
                   dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=40000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=2000)
val_cfg, test_cfg = dict(type='ValLoop'), dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
