# PadInv's face setting (arXiv 2203.11105 Sec. 4): train the encoder on FFHQ (256 px), test on the CelebA-HQ test
# split (256 px). Folders of images; x-flip for training.
dataset_type = 'ImageFolderDataset'
data_root = 'data/ffhq/images256x256'
test_root = 'data/celeba-hq/test256'
resolution = 256
train_pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='GANResizeCrop', resolution=resolution),
    dict(type='GANRandomFlip', prob=0.5),
    dict(type='PackGANInputs'),
]
val_pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='GANResizeCrop', resolution=resolution),
    dict(type='PackGANInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=test_root, pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReconstructionMetric')  # + lpips_weights=<file> for LPIPS (official metric)
test_evaluator = val_evaluator
