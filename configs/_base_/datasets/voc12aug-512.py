# PASCAL VOC 2012 + SBD aug (SegmentationClassAug), semi-supervised as U2PL (spec A6/A7): per GPU 4 labeled + 4
# unlabeled, weak view = random rescale [0.5, 2.0] + pad (U2PL: mean colour, label 0) + crop + h-flip; strong view =
# colour aug on the weak crop (U2PL's CutMix happens in the model step). The crop is U2PL's 513 (the file name follows
# MMSeg's voc12aug-512x512 naming). Partition: U2PL's id lists data/splits/pascal/<n>/{labeled,unlabeled}.txt (classic
# 92/183/366/732/1464, or blender 662/1323/2646/5291); validation on the 1449 val images at original size.
dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
split_root = 'data/splits/pascal/1464'
crop_size = (513, 513)
# U2PL's weak view (u2pl/dataset/augmentation.py): RandResize draws the scale in [0.5, 1] or [1, 2] with
# probability 1/2 each; Crop pads both sides with the normalised 0 (the mean colour) and the label with 0 (background).
weak = dict(type='SegWeakAug', crop_size=crop_size, scale_range=(0.5, 2.0), flip_prob=0.5, ignore_index=255,
            scale_sampling='split', pad_val=(123.675, 116.28, 103.53), pad_position='center', seg_pad_val=0)
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
    batch_size=4, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
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
