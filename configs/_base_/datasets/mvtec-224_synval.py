# MVTec AD layout, every class found under data_root in one unified model, resized to 224x224 (no augmentation,
# as UniAD).
# Validation WITH defects (beside mvtec-224.py, which stays as it is): the held-out 10% of each class's train/good
# images (seeded, as there), each followed by one copy carrying a defect drawn by gen3d's own synthesis (scratch,
# dent, stain, pasted patch; gen3d/datasets/anomaly_synthesis.py) with its mask. The test split is never read for
# it, and the copies come from their own seeded stream ('synthetic_val' salt), apart from the demo set's and the
# deploy gates' draws. Checkpoints are selected by mean image AUROC on it and thresholds are F1-adaptive.
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
    dataset=dict(type='SyntheticDefectValDataset', seed=0, copies=1, pipeline=test_pipeline,
                 dataset=dict(type=dataset_type, data_root=data_root, split='val', val_ratio=0.1)))
test_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline))
# Per-class thresholds: F1-adaptive on the validation above (threshold_rule='quantile' keeps the 0.99 quantile of
# the held-out normal scores instead, a target false-alarm rate).
val_evaluator = dict(type='AnomalyMetric', threshold_rule='f1', quantile=0.99)
test_evaluator = dict(type='AnomalyMetric', quantile=0.99)
