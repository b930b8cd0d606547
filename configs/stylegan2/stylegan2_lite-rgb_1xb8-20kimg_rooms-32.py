# make demo-depthgan's baseline: a StyleGAN2 of the size of DepthGAN's appearance path (depthgan_lite-32.py: 64-d
# latents, 2-layer mapping, channels min(1024 // r, 64), RGB) on the RGB of the offline rooms alone (no depth), with
# the schedule of depthgan_lite_1xb8-20kimg_rooms-32.py (lr 0.0025 with the lazy-regularisation ratios, batch 8), so
# that the two are compared at the same budget. StyleGAN2's own regularisers (path length, R1) at the CPU baseline's
# settings (stylegan2_lite_1xb8-20kimg_lfw-faces-32.py).
_base_ = [
    '../_base_/models/stylegan2_lite-32.py', '../_base_/datasets/rooms-32.py',
    '../_base_/schedules/stylegan2_adam_20kimg.py', '../_base_/default_runtime.py',
]
model = dict(generator=dict(img_channels=3), discriminator=dict(img_channels=3))
rgb_pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='PoseRandomFlip', prob=0.5, seed=0),
    dict(type='PackRGBDInputs', require_depth=False),
]
train_dataloader = dict(dataset=dict(with_depth=False, pipeline=rgb_pipeline))
val_dataloader = dict(dataset=dict(with_depth=False, pipeline=[rgb_pipeline[0], rgb_pipeline[2]]))
test_dataloader = val_dataloader
val_evaluator = [dict(type='FrechetInceptionDistance', fallback='lite0')]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=2, save_last=True),
                     logger=dict(interval=50))
log_processor = dict(by_epoch=False, window_size=50)
