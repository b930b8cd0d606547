# DepthGAN on LSUN kitchen at 256 px (VivianSZF/depthgan scripts/training_demos/depthgan_lsun_kitchen256.sh): 8 GPUs x 8
# images, 25M images, Adam 0.0015 (0, 0.99) for G_depth, G_rgb and D (lazy-regularisation ratios applied), R1 gamma
# 0.5, rgbrotloss 0.4, drotloss 50, gdloss 0.001, ddloss 0.8, EMA 20 kimg; evaluation every 3200 iterations.
# GPU config (not run in this project). Data: data/lsun_kitchen_rgbd (see configs/_base_/datasets/lsun-rgbd-256.py).
_base_ = [
    '../_base_/models/depthgan-256.py', '../_base_/datasets/lsun-rgbd-256.py',
    '../_base_/schedules/depthgan_adam_25000kimg.py', '../_base_/default_runtime.py',
]
resolution = 256
data_root = 'data/lsun_kitchen_rgbd'
real_stats_name = 'lsun-kitchen-rgbd-256-50k'
model = dict(generator=dict(resolution=resolution), discriminator=dict(resolution=resolution), r1_gamma=0.5,
             rgbrot_weight=0.4)
pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='LoadRGBDDepth'),
    dict(type='RGBDResizeCrop', resolution=resolution),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='FrechetInceptionDistance', real_stats_name=real_stats_name),
    dict(type='FrechetInceptionDistance', real_stats_name=real_stats_name, fake_key='fake_depth_img',
         real_key='real_depth_img', key_suffix='_depth'),
    dict(type='RotEval'),
    dict(type='DepthBinAccuracy'),
    dict(type='GeneratedDepthError', estimator=None),
]
test_evaluator = val_evaluator
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=3200, max_keep_ckpts=3, save_last=True, save_best='fid', rule='less'),
    logger=dict(interval=64))
log_processor = dict(by_epoch=False, window_size=64)
