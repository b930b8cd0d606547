# DepthGAN on LSUN kitchen at 256 px (VivianSZF/depthgan scripts/training_demos/depthgan_lsun_kitchen256.sh): the
# bedroom-256 config (8 GPUs x 8 images, 25M images, Adam 0.0015, R1 gamma 0.5, drotloss 50, gdloss 0.001, ddloss 0.8)
# with rgbrotloss 0.4. GPU config (not run in this project). Data: data/lsun_kitchen_rgbd (see
# configs/_base_/datasets/lsun-rgbd-256.py).
_base_ = ['./depthgan_8xb8-25000kimg_lsun-bedroom-256.py']
data_root = 'data/lsun_kitchen_rgbd'
real_stats_name = 'lsun-kitchen-rgbd-256-50k'
model = dict(rgbrot_weight=0.4)
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
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
