# Generic semi-supervised layout (point --data-root at your folder; the demo builder
# gen3d.datasets.seg_synthesis.build_seg_demo_dataset writes one):
#   <root>/images/<stem>.jpg|png, <root>/masks/<stem>.png (class ids, 255 ignore), <root>/classes.txt,
#   <root>/splits/{labeled,unlabeled,val}.txt (stems; unlabeled stems need no mask).
# Equal labeled / unlabeled batches (U2PL), weak view = rescale [0.5, 2.0] + pad + crop + flip, strong view = colour
# aug on the weak crop; validation on whole images.
dataset_type = 'FolderSegDataset'
data_root = 'data/my_seg'
crop_size = (256, 256)
# U2PL's weak view (u2pl/dataset/augmentation.py): RandResize draws the scale in [0.5, 1] or [1, 2] with probability 1/2
# each; Crop pads both sides with the normalised 0 (the mean colour) and the label with 0; class 0 need not be
# background in your data, so the mask padding stays 255 (ignore) here (the demo sets 0).
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
    batch_size=4, num_workers=2, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='SemiSupervisedDataset',
        labeled=dict(type=dataset_type, data_root=data_root, split='labeled', pipeline=labeled_pipeline),
        unlabeled=dict(type=dataset_type, data_root=data_root, split='unlabeled', pipeline=unlabeled_pipeline)))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', ignore_index=255)
test_evaluator = val_evaluator
