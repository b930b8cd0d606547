# The paper's recipe: 8 GPUs x 8 images, 1000 epochs, EfficientNet-B4 (weights from the hub or a local file).
_base_ = [
    '../_base_/models/uniad_effnet-b4.py', '../_base_/datasets/mvtec-224.py',
    '../_base_/schedules/uniad_1000e.py', '../_base_/default_runtime.py',
]
default_hooks = dict(
    visualization=dict(type='AnomalyVisualizationHook'),
    checkpoint=dict(interval=10, max_keep_ckpts=3, save_last=True, save_best='mean/normal_score_mean', rule='less'),
    logger=dict(interval=50))
randomness = dict(seed=133)  # official MVTec seed
