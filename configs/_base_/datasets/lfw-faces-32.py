# The offline GAN demo set: the 100 grey LFW face crops bundled with scikit-image (gen3d/datasets/gan_synthesis.py
# writes <root>/train/*.png), upsampled from 25 to 32 px, x-flip augmentation. Limited data: FID/KID here are
# small-sample estimates (100 fakes vs the 100 training faces) and use the offline EfficientNet-Lite0 features when
# the Inception weights are absent (keys fd_lite0 / kd_lite0: NOT FID / KID).
dataset_type = 'ImageFolderDataset'
data_root = 'data/lfw-faces/train'
resolution = 32
train_pipeline = [
    dict(type='LoadGANImage', color_type='grayscale'),
    dict(type='GANResizeCrop', resolution=resolution),
    dict(type='GANRandomFlip', prob=0.5, seed=0),  # each sample's flip is drawn from its loader key (exact resume)
    dict(type='PackGANInputs'),
]
val_pipeline = [
    dict(type='LoadGANImage', color_type='grayscale'),
    dict(type='GANResizeCrop', resolution=resolution),
    dict(type='PackGANInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='FrechetInceptionDistance', fallback='lite0'),
    dict(type='KernelInceptionDistance', fallback='lite0', num_subsets=50, max_subset_size=50),
]
test_evaluator = val_evaluator
