# Cityscapes fine (*_gtFine_labelTrainIds.png, 19 classes), semi-supervised as U2PL (spec A6/A7): per GPU 2 labeled
# + 2 unlabeled, crop 769, weak view = random rescale [0.5, 2.0] + pad (mask 255) + crop + h-flip, strong view =
# colour aug on the weak crop. Partition: U2PL's lists data/splits/cityscapes/<n>/{labeled,unlabeled}.txt
# (186/372/744/1488 of 2975; lines leftImg8bit/train/<city>/<name>_leftImg8bit.png). Validation: the 500 val images
# at full 2048x1024 (sliding-window 769 / stride 513 inference is the model's test_cfg, spec A8).
dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes'
split_root = 'data/splits/cityscapes/744'
crop_size = (769, 769)
# U2PL's weak view (u2pl/dataset/augmentation.py): RandResize draws the scale in [0.5, 1] or [1, 2] with probability 1/2
# each; Crop pads both sides with the normalised 0 (the mean colour) and the label with 0, which is 'road' on
# Cityscapes: we keep 255 (ignore) here, a conscious deviation (configs/u2pl/README.md).
weak = dict(type='SegWeakAug', crop_size=crop_size, scale_range=(0.5, 2.0), flip_prob=0.5, ignore_index=255,
            scale_sampling='split', pad_val=(123.675, 116.28, 103.53), pad_position='center')
labeled_pipeline = [
    dict(type='LoadSegImage'),
    dict(type='LoadSegMask'),
    weak,
    dict(type='PackSegInputs'),
]
unlabeled_pipeline = [
    dict(type='LoadSegImage'),
    weak,
    dict(type='SegStrongAug'),
    dict(type='PackSegInputs'),
]
test_pipeline = [dict(type='LoadSegImage'), dict(type='LoadSegMask'), dict(type='PackSegInputs')]
train_dataloader = dict(
    batch_size=2, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='SemiSupervisedDataset',
        labeled=dict(type=dataset_type, data_root=data_root, split=split_root + '/labeled.txt',
                     pipeline=labeled_pipeline),
        unlabeled=dict(type=dataset_type, data_root=data_root, split=split_root + '/unlabeled.txt', labeled=False,
                       pipeline=unlabeled_pipeline)))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', ignore_index=255)
test_evaluator = val_evaluator
