# FST-D UDA GTA5 -> Cityscapes (spec B1/B3): 1 GPU, 2 source + 2 target, crop 512, AdamW 6e-5 (head x10, no decay on
# norms), wd 0.01, 1500 linear warm-up iters then poly (power 1), 40k iters, EMA 0.999, K = 3, no EMA after the real
# step (the next iteration absorbs it). Deviations: MeanTeacher's confidence gate (0.968) + CutMix stand in for
# DAFormer's ClassMix / pixel-fraction weight; no RCS, no ImageNet feature distance, no 15/120-row crop.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/gta5-to-cityscapes.py',
    '../_base_/default_runtime.py',
]
model = dict(type='FST', mode='D', k=3, ema_alpha=0.999, ema_after_real_step=False, restore_optimizer=False,
             restore_buffers=False, decode_head=dict(num_classes=19),
             method=dict(type='MeanTeacher', conf_thresh=0.968, cutmix_prob=1.0, eval_model='teacher'))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
                     paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}, norm_decay_mult=0.0))
param_scheduler = [dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
                   dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=40000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=2000)
val_cfg, test_cfg = dict(type='ValLoop'), dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
