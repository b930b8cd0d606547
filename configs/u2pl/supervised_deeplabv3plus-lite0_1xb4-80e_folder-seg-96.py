# SupOnly baseline of u2pl_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py: labeled images only, same recipe.
_base_ = [
    '../_base_/models/deeplabv3plus_lite0.py', '../_base_/datasets/folder-seg_labeled-only.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
train_pipeline = [
    dict(type='LoadSegImage'), dict(type='LoadSegMask'),
    dict(type='SegWeakAug', crop_size=(96, 96), scale_range=(0.5, 2.0), flip_prob=0.5, ignore_index=255,
         scale_sampling='split', pad_val=(127.5, 127.5, 127.5), pad_position='center', seg_pad_val=0),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
model = dict(decode_head=dict(num_classes=5))
optim_wrapper = dict(optimizer=dict(lr=1e-2))
