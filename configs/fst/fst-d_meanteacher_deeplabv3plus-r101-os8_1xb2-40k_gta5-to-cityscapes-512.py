# FST-D UDA GTA5 -> Cityscapes (spec B1/B3): 1 GPU, 2 source + 2 target, crop 512, AdamW 6e-5 (head x10, no decay on
# norms), wd 0.01, 1500 linear warm-up iters then poly (power 1), 40k iters, EMA 0.999, K = 3, no EMA after the real
# step (the next iteration absorbs it). Deviations: MeanTeacher's confidence gate (0.968) + CutMix stand in for
# DAFormer's ClassMix / pixel-fraction weight; no RCS, no ImageNet feature distance, no 15/120-row crop (the
# faithful DAFormer self-training is fst-d_dacs_deeplabv3plus-r101-os8_1xb2-40k_gta5-to-cityscapes-512.py).
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/gta5-to-cityscapes.py',
    '../_base_/schedules/uda_adamw_40k.py', '../_base_/default_runtime.py',
]
model = dict(type='FST', mode='D', k=3, ema_alpha=0.999, ema_after_real_step=False, restore_optimizer=False,
             restore_buffers=False, decode_head=dict(num_classes=19),
             method=dict(type='MeanTeacher', conf_thresh=0.968, cutmix_prob=1.0, eval_model='teacher'))
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
