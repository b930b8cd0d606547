# FST-D around DACS, UDA GTA5 -> Cityscapes (official configs/fst_d/gta2cs_*_nesterov_r101_s0_step3.py, fst_d.py):
# K = 3 virtual steps on the same batch, EMA 0.999, no EMA after the real step, parameters only restored. DACS recipe,
# optimiser and schedule as dacs_deeplabv3plus-r101-os8_1xb2-40k_gta5-to-cityscapes-512.py. Rare class sampling (RCS)
# as DAFormer: T 0.01, 3000 min pixels, crop ratio 0.5.
_base_ = ['../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/gta5-to-cityscapes.py',
          '../_base_/schedules/uda_adamw_40k.py',
          '../_base_/default_runtime.py']
model = dict(type='FST', mode='D', k=3, ema_alpha=0.999, ema_after_real_step=False, restore_optimizer=False,
             restore_buffers=False, decode_head=dict(num_classes=19),
             method=dict(type='DACS', ema_momentum=0.999, pseudo_threshold=0.968, pseudo_weight_ignore_top=15,
                         pseudo_weight_ignore_bottom=120, color_jitter_strength=0.2, color_jitter_probability=0.2,
                         blur=True, imnet_feature_dist_lambda=0.005, imnet_feature_dist_scale_min_ratio=0.75,
                         imnet_feature_dist_classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18], eval_model='student'))
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
# DAFormer rare class sampling of the GTA5 source images (arXiv 2111.14887 Sec. 3.3; official values): needs the
# class statistics, written once by tools/dataset_converters/seg_class_stats.py GTA5Dataset data/gta.
train_dataloader = dict(dataset=dict(rare_class_sampling=dict(class_temp=0.01, min_pixels=3000, min_crop_ratio=0.5)))
