# Edge variant: tf_efficientnet_lite0 with offline ImageNet weights, 1 GPU (or CPU) x 8 images, 200 epochs
# (the paper's StepLR milestone kept at 80% of the schedule).
_base_ = [
    '../_base_/models/uniad_effnet-lite0.py', '../_base_/datasets/mvtec-224.py',
    '../_base_/schedules/uniad_1000e.py', '../_base_/default_runtime.py',
]
param_scheduler = [dict(type='StepLR', step_size=160, gamma=0.1, by_epoch=True)]
train_cfg = dict(max_epochs=200, val_interval=10)
default_hooks = dict(
    visualization=dict(type='AnomalyVisualizationHook'),
    checkpoint=dict(interval=10, max_keep_ckpts=3, save_last=True, save_best='mean/normal_score_mean', rule='less'),
    logger=dict(interval=20))
randomness = dict(seed=133)
