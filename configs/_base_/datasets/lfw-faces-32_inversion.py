# GAN inversion on the offline LFW faces (gen3d/datasets/gan_synthesis.py with n_holdout > 0): encoders train on
# <root>/train (the faces the generator was trained on) and are evaluated on <root>/holdout (faces that neither the
# generator nor the encoder saw). 32 px grey, x-flip for training only.
dataset_type = 'ImageFolderDataset'
data_root = 'data/lfw-faces/train'
holdout_root = 'data/lfw-faces/holdout'
resolution = 32
train_pipeline = [
    dict(type='LoadGANImage', color_type='grayscale'),
    dict(type='GANResizeCrop', resolution=resolution),
    dict(type='GANRandomFlip', prob=0.5, seed=0),
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
    batch_size=20, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=holdout_root, pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReconstructionMetric')  # MSE / PSNR / SSIM on [-1, 1]; add lpips_weights for LPIPS
test_evaluator = val_evaluator
