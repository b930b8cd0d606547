# The offline 3D set at 32 px: shaded analytic objects ray-cast with their true depth, normals, masks and poses
# (gen3d/datasets/shape3d_synthesis.py; pi-GAN's CelebA camera: fov 12, radius 1, yaw ~ N(pi/2, 0.3),
# pitch ~ N(pi/2, 0.155)), read by PoseImageDataset. Write it, then train (or pass --data-root DIR for another copy):
#   python -m gen3d.datasets.shape3d_synthesis data/shape3d-32 --num 500 --size 32
# Flips mirror the pose and the geometry together (PoseRandomFlip). The data preprocessor stacks the geometry as
# real_depth / real_normal / real_mask / real_pose. FID/KID here are small-sample estimates (200 fakes vs 200 reals)
# on the offline EfficientNet-Lite0 features when the Inception weights are absent (keys fd_lite0 / kd_lite0: NOT
# FID / KID).
dataset_type = 'PoseImageDataset'
data_root = 'data/shape3d-32'
require = ('pose', 'depth', 'normal', 'mask')
train_pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='LoadPoseGeometry'),
    dict(type='PoseRandomFlip', prob=0.5, seed=0),
    dict(type='PackPoseInputs'),
]
val_pipeline = [dict(type='LoadGANImage', color_type='color'), dict(type='LoadPoseGeometry'),
                dict(type='PackPoseInputs')]
train_dataloader = dict(
    batch_size=8, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, require=require, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, require=require, indices=200, pipeline=val_pipeline,
                 test_mode=True))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='FrechetInceptionDistance', fallback='lite0'),
    dict(type='KernelInceptionDistance', fallback='lite0', num_subsets=50, max_subset_size=50),
    # One latent at two poses (yaw + 0.3, PiGAN.val_yaw_delta): photometric / depth reprojection error.
    dict(type='MultiViewConsistency', fov=12.0, depth_kind='ray'),
]
test_evaluator = val_evaluator
