# The offline indoor rooms at 32 px with their true planar depth (gen3d/datasets/rooms_synthesis.py: floor, walls,
# furniture boxes, point lights; yaw ~ U(-pi/12, pi/12) as DepthGAN's), read by RGBDDataset in the metric layout
# (rgbd.json: depth normalised from (0, 8 m) to [-1, 1]). Write it, then train (or pass --data-root DIR):
#   python -m gen3d.datasets.rooms_synthesis data/rooms-32 --num 1000 --size 32
# Horizontal flips mirror RGB and depth together. FID here is a small-sample estimate (200 fakes vs 200 reals) on the
# offline EfficientNet-Lite0 features when the Inception weights are absent (keys fd_lite0*: NOT FID).
dataset_type = 'RGBDDataset'
data_root = 'data/rooms-32'
train_pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='LoadRGBDDepth'),
    dict(type='PoseRandomFlip', prob=0.5, seed=0),
    dict(type='PackRGBDInputs'),
]
val_pipeline = [dict(type='LoadGANImage', color_type='color'), dict(type='LoadRGBDDepth'), dict(type='PackRGBDInputs')]
train_dataloader = dict(
    batch_size=8, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, indices=200, pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
