# The offline six-class set at 32 px (gen3d/datasets/class_synthesis.py: disc ~ ellipse and square ~ diamond are the
# similar pairs, stripes and rings unlike all), read by ImageFolderDataset with conditional=True (gt_label = index
# of the class folder in sorted order). Write it, then train (or pass --data-root DIR):
#   python -m gen3d.datasets.class_synthesis data/classes-32 --num-per-class 200 --size 32
# No flip augmentation (the set is random in position and orientation already). Validation runs over every image
# with one fake per real of the real's class (class-balanced); FID here is a small-sample estimate (1200 vs 1200) on the offline EfficientNet-Lite0 features when the Inception weights are absent
# (key fd_lite0: NOT FID).
dataset_type = 'ImageFolderDataset'
data_root = 'data/classes-32'
resolution = 32
train_pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='GANResizeCrop', resolution=resolution),
    dict(type='PackGANInputs'),
]
val_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=16, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, conditional=True, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, conditional=True, pipeline=val_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = [dict(type='FrechetInceptionDistance', fallback='lite0')]
test_evaluator = val_evaluator
