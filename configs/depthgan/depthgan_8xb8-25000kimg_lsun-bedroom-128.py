# DepthGAN on LSUN bedroom at 128 px (VivianSZF/depthgan scripts/training_demos/depthgan_lsun_bedroom128.sh): the
# bedroom-256 config (8 GPUs x 8 images, 25M images, Adam 0.0015, drotloss 50, gdloss 0.001, ddloss 0.8) at 128 px
# with R1 gamma 0.3 and rgbrotloss 0.3. GPU config (not run in this project). Data: data/lsun_bedroom_rgbd.
_base_ = ['./depthgan_8xb8-25000kimg_lsun-bedroom-256.py']
resolution = 128
real_stats_name = 'lsun-bedroom-rgbd-128-50k'
model = dict(generator=dict(resolution=resolution), discriminator=dict(resolution=resolution), r1_gamma=0.3,
             rgbrot_weight=0.3)
pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='LoadRGBDDepth'),
    dict(type='RGBDResizeCrop', resolution=resolution),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=pipeline))
val_dataloader = dict(dataset=dict(pipeline=pipeline))
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
