# PatchCore (arXiv 2106.08265), one memory bank per class, on tf_efficientnet_lite0 with the offline ImageNet weights:
# the data pipeline and test evaluator of configs/uniad/uniad_effnet-lite0_1xb8-200e_mvtec-224.py (224x224 resize,
# Lite0 normalisation, 10% of train/good held out for the per-class thresholds), so both are trained and tested on
# the same images. Fitting = one epoch without gradients (features collected, coreset built at the epoch's end).
_base_ = ['../_base_/datasets/mvtec-224.py', '../_base_/default_runtime.py']
custom_imports = dict(imports=['gen3d.models.anomaly.patchcore'], allow_failed_imports=False)
model = dict(
    type='PatchCore',
    # anomalib's layer2 + layer3 of wide_resnet50_2 = the last stride-8 and last stride-16 stage; on Lite0 the last
    # blocks of stages 2 and 4 (flat blocks 4 and 10, timm 'blocks.2' / 'blocks.4'): 40 + 112 = 152 channels.
    backbone=dict(type='TimmFeatureExtractor', model_name='tf_efficientnet_lite0', out_blocks=(4, 10),
                  pretrained='lite0-offline', frozen=True),
    input_size=(224, 224),
    coreset_ratio=0.1,     # anomalib / paper "PatchCore-10%"
    projection_dim=128,    # coreset distances after a random projection (the paper's official code)
    num_neighbors=9,       # b of the image-score re-weighting (Eq. 7)
    pool_size=3,           # 3x3 local neighbourhood aggregation, stride 1
    blur_sigma=4.0,        # anomaly-map Gaussian smoothing
    coreset_seed=0,
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
)
# PatchCoreFitHook builds the banks before epoch_1.pth is written; AnomalyThresholdHook then stores the thresholds
# fitted by the validation in it (as for UniAD).
custom_hooks = [dict(type='AnomalyThresholdHook'), dict(type='PatchCoreFitHook')]
# Nothing is optimised: mmengine's Runner needs an optimizer to train, and PatchCore.train_step never steps it.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.0))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    visualization=dict(type='AnomalyVisualizationHook'),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_last=True),  # epoch_1.pth holds the banks and thresholds
    logger=dict(interval=20))
randomness = dict(seed=133)
