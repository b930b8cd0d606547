# FFHQ at 256 x 256 (70k aligned faces) as a folder of images (e.g. the 256 px PNGs extracted from
# stylegan2-ada's dataset_tool zip); x-flip augmentation as in StyleGAN2's FFHQ runs (--mirror 1).
# Validation: FID against the first 50k training images (one fixed-seed fake per real image), real statistics
# cached under work_dirs/real_stats. FID needs the Inception weights (see gen3d/evaluation/metrics).
dataset_type = 'ImageFolderDataset'
data_root = 'data/ffhq/images256x256'
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
    batch_size=4, num_workers=4, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, indices=50000, pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='FrechetInceptionDistance', real_stats_name='ffhq-256-50k')
test_evaluator = val_evaluator
