# uniad_effnet-lite0_1xb8-200e_mvtec-224.py with a validation that holds defects: the held-out good images plus a
# synthetic-defect copy of each (../_base_/datasets/mvtec-224_synval.py). The best checkpoint is the one with the
# highest mean/selection_score there, the mean of image AUROC and pixel AUPRO (not the lowest mean normal score,
# which a model copying its input wins; AUPRO breaks the ties of a saturated AUROC), and the per-class thresholds
# are F1-adaptive on it. Model, data and schedule are those of the faithful config.
_base_ = [
    '../_base_/models/uniad_effnet-lite0.py', '../_base_/datasets/mvtec-224_synval.py',
    '../_base_/schedules/uniad_1000e.py', '../_base_/default_runtime.py',
]
param_scheduler = [dict(type='StepLR', step_size=160, gamma=0.1, by_epoch=True)]
train_cfg = dict(max_epochs=200, val_interval=10)
default_hooks = dict(
    visualization=dict(type='AnomalyVisualizationHook'),
    checkpoint=dict(interval=10, max_keep_ckpts=3, save_last=True, save_best='mean/selection_score', rule='greater'),
    logger=dict(interval=20))
randomness = dict(seed=133)
