# SupOnly baseline of u2pl_deeplabv3plus-r101-os8_8xb2-200e_cityscapes-769-744.py (U2PL SupOnly 744: 74.43, spec A9).
# The model is spelled out (the U2PL network of _base_/models/deeplabv3plus_r101-os8.py with OHEM, sliding windows and
# the official layer-3 aux head, weight 0.4) as a config cannot turn the base's `ohem=None` into a dict w/o `_delete_`.
_base_ = [
    '../_base_/datasets/cityscapes-769_labeled-only.py', '../_base_/schedules/seg_sgd_80e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='EncoderDecoder', backbone=dict(type='TimmSegBackbone', model_name='resnet101s', output_stride=8,
                                         multi_grid=(2, 2, 4), pretrained='hub', out_indices=(1, 3, 4)),
    decode_head=dict(type='DeepLabV3PlusHead', num_classes=19, channels=256, low_level_channels=256,
                     dilations=(12, 24, 36), aspp_project_kernel_size=3, dropout=0.1),
    auxiliary_head=dict(type='FCNAuxHead', in_index=1, channels=256, dropout=0.1, loss_weight=0.4),
    ohem=dict(thresh=0.7, min_kept=100000), align_corners=True,
    test_cfg=dict(mode='slide', crop_size=(769, 769), stride=(513, 513)),
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]))
optim_wrapper = dict(optimizer=dict(lr=1e-2, weight_decay=5e-4),
                     paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=1.0)}))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=200, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=200)
