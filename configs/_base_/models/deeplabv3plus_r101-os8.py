# DeepLabV3+ as U2PL builds it (u2pl/models/{resnet,decoder}.py; arXiv 2203.03884 Sec. 4.1): deep-stem ResNet-101
# (timm 'resnet101s', same layout and key names as U2PL's encoder), output stride 8 (layers 3/4 dilated) with
# multi-grid (2, 2, 4) -> layer4 dilations 4/8/16; ASPP rates 12/24/36 projected by a 3x3 conv + Dropout2d(0.1);
# 256-ch low-level projection (the paper's is 48); two 3x3 convs of 256 + dropout; bilinear align_corners=True.
# The semi-supervised configs switch on U2PL's 256-d representation head with decode_head.with_repr=True;
# supervised-only training leaves it off (an unused head would trip DDP's unused-parameter check).
# pretrained='hub' downloads 'resnet101s.gluon_in1k' through timm; U2PL's own resnet101.pth loads with
# model.backbone.pretrained=/path/to/resnet101.pth.
model = dict(
    type='EncoderDecoder',
    backbone=dict(type='TimmSegBackbone', model_name='resnet101s', output_stride=8, multi_grid=(2, 2, 4),
                  pretrained='hub'),
    decode_head=dict(type='DeepLabV3PlusHead', num_classes=21, channels=256, low_level_channels=256,
                     dilations=(12, 24, 36), aspp_project_kernel_size=3, dropout=0.1, with_repr=False,
                     repr_channels=256),
    ignore_index=255,
    ohem=None,  # U2PL Cityscapes: ohem=dict(thresh=0.7, min_kept=100000)
    align_corners=True,
    test_cfg=dict(mode='whole'),  # U2PL Cityscapes: dict(mode='slide', crop_size=(769, 769), stride=(513, 513))
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
)
