# PadInv's scene setting (arXiv 2203.11105 Sec. 4): LSUN bedroom at 256 px as a folder of images (the official
# code reads the LMDB); the last 1000 images (indices from a split file you make) are a held-out test set.
dataset_type = 'ImageFolderDataset'
data_root = 'data/lsun/bedroom_train256'
test_root = 'data/lsun/bedroom_test256'
resolution = 256
train_pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='GANResizeCrop', resolution=resolution),
    dict(type='PackGANInputs'),
]
val_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=test_root, pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReconstructionMetric')
test_evaluator = val_evaluator
