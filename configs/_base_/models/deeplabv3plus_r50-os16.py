# DeepLabV3+ with the paper's decoder (arXiv 1802.02611 Sec. 3-4): deep-stem ResNet-50 (timm 'resnet50s',
# 'resnet50s.gluon_in1k' weights via pretrained='hub') at output stride 16 (layer4 dilated), ASPP rates 6/12/18
# with a 1x1 projection, 48-ch low-level projection, two 3x3 convs of 256, Dropout2d(0.1).
model = dict(
    type='EncoderDecoder',
    backbone=dict(type='TimmSegBackbone', model_name='resnet50s', output_stride=16, pretrained='hub'),
    decode_head=dict(type='DeepLabV3PlusHead', num_classes=21, channels=256, low_level_channels=48,
                     dilations=(6, 12, 18), aspp_project_kernel_size=1, dropout=0.1, with_repr=False),
    ignore_index=255,
    align_corners=False,
    test_cfg=dict(mode='whole'),
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
)
