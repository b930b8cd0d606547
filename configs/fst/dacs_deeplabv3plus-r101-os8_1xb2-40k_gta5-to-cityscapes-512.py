# DACS without FST (official mmseg/models/uda/dacs.py, values of FST's GTA->CS configs) to measure FST's gain: EMA
# 0.999, pseudo-weight threshold 0.968, top 15 / bottom 120 crop rows unweighted, ClassMix + jitter + blur, ImageNet
# feature distance 0.005 on thing classes; AdamW 6e-5 (head x10), 1500 warm-up iters, poly, 40k iters. Rare class
# sampling (RCS) as DAFormer: T 0.01, 3000 min pixels, crop ratio 0.5.
_base_ = ['../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/gta5-to-cityscapes.py',
          '../_base_/schedules/uda_adamw_40k.py',
          '../_base_/default_runtime.py']
model = dict(type='DACS', decode_head=dict(num_classes=19), ema_momentum=0.999, pseudo_threshold=0.968,
             pseudo_weight_ignore_top=15, pseudo_weight_ignore_bottom=120, color_jitter_strength=0.2,
             color_jitter_probability=0.2, blur=True, imnet_feature_dist_lambda=0.005,
             imnet_feature_dist_classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
             imnet_feature_dist_scale_min_ratio=0.75, eval_model='student')
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
# DAFormer rare class sampling of the GTA5 source images (arXiv 2111.14887 Sec. 3.3; official values): needs the
# class statistics, written once by tools/dataset_converters/seg_class_stats.py GTA5Dataset data/gta.
train_dataloader = dict(dataset=dict(rare_class_sampling=dict(class_temp=0.01, min_pixels=3000, min_crop_ratio=0.5)))
