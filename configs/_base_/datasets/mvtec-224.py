# MVTec AD layout, every class found under data_root in one unified model, resized to 224x224 (no augmentation,
# as UniAD). val = a held-out 10% of each class's train/good images: thresholds and checkpoint selection use it,
# never the test split.
dataset_type = 'MVTecDataset'
data_root = 'data/mvtec'
img_size = 224
train_pipeline = [
    dict(type='LoadAnomalyImage'),
    dict(type='LoadAnomalyMask'),
    dict(type='Albu', transforms=[dict(type='Resize', height=img_size, width=img_size)]),
    dict(type='PackAnomalyInputs'),
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', val_ratio=0.1, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', val_ratio=0.1, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline))
# Normal-only validation: per-class thresholds = 0.99 quantile of held-out normal scores.
val_evaluator = dict(type='AnomalyMetric', quantile=0.99)
test_evaluator = dict(type='AnomalyMetric', quantile=0.99)
