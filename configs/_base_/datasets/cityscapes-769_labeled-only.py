# Supervised-only counterpart of cityscapes-769.py (U2PL's SupOnly baseline, spec A9): the same labeled split, pipeline
# and validation, without the unlabeled stream. One epoch is one pass over the labeled list (U2PL train_sup.py).
dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes'
split_root = 'data/splits/cityscapes/744'
crop_size = (769, 769)
# U2PL's weak view (u2pl/dataset/augmentation.py): RandResize draws the scale in [0.5, 1] or [1, 2] with probability 1/2
# each; Crop pads both sides with the normalised 0 (the mean colour) and the label with 0, which is 'road' on
# Cityscapes: we keep 255 (ignore) here, a conscious deviation (configs/u2pl/README.md).
weak = dict(type='SegWeakAug', crop_size=crop_size, scale_range=(0.5, 2.0), flip_prob=0.5, ignore_index=255,
            scale_sampling='split', pad_val=(123.675, 116.28, 103.53), pad_position='center')
train_pipeline = [
    dict(type='LoadSegImage'),
    dict(type='LoadSegMask'),
    weak,
    dict(type='PackSegInputs'),
]
test_pipeline = [dict(type='LoadSegImage'), dict(type='LoadSegMask'), dict(type='PackSegInputs')]
train_dataloader = dict(
    batch_size=2, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split=split_root + '/labeled.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', ignore_index=255)
test_evaluator = val_evaluator
