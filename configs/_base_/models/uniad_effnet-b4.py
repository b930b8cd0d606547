# UniAD (arXiv 2206.03687) with the paper's frozen EfficientNet-B4: blocks 1/5/9/21 -> 24+32+56+160 = 272 ch,
# aligned to stride 16 (14x14 tokens at 224 px); 4+4 post-norm layers, 256 hidden, 8 heads, 7x7 neighbour mask.
# The official code loads lukemelas' efficientnet-b4-6ed6700e.pth, the TF AutoAugment weights: timm's
# tf_efficientnet_b4.aa_in1k (TF "SAME" padding, BN eps 1e-3). 'hub' downloads them through timm; a local file
# (that .pth, lukemelas key names converted, or a timm state dict) works as well.
model = dict(
    type='UniAD',
    backbone=dict(type='TimmFeatureExtractor', model_name='tf_efficientnet_b4.aa_in1k', out_blocks=(1, 5, 9, 21),
                  pretrained='hub', frozen=True),
    neck=dict(type='FeatureAligner', out_stride=16),
    reconstruction=dict(type='UniADReconstruction'),
    input_size=(224, 224),
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    # Frozen backbone + no augmentation: cache each image's features after the first epoch (bounded memory).
    feature_cache=dict(type='memory', max_bytes=2 * 1024**3),
)
custom_hooks = [dict(type='AnomalyThresholdHook')]
