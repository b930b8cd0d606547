# Generic folder layout: <cls>/train/good, <cls>/test/{good,<defect>}, <cls>/masks/<defect>/;
# every class found under data_root in one unified model, resized to 224x224 (no augmentation, as UniAD).
# Validation WITH defects (beside folder-224.py, which stays as it is): the held-out 10% of each class's train/good
# images (seeded, as there), each followed by one copy carrying a defect drawn by gen3d's own synthesis (scratch,
# dent, stain, pasted patch; gen3d/datasets/anomaly_synthesis.py) with its mask. The test split is never read for
# it, and the copies come from their own seeded stream ('synthetic_val' salt), apart from the demo set's and the
# deploy gates' draws. Checkpoints are selected by mean image AUROC on it and thresholds are F1-adaptive.
_base_ = ['./folder-224.py']
# Only the validation differs from folder-224.py: the wrapper replaces its val dataset (the same split of the same root).
val_dataloader = dict(dataset=dict(
    _delete_=True, type='SyntheticDefectValDataset', seed=0, copies=1, pipeline={{_base_.test_pipeline}},
    dataset=dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}}, split='val', val_ratio=0.1)))
# Per-class thresholds: F1-adaptive on the validation above (threshold_rule='quantile' keeps the 0.99 quantile of
# the held-out normal scores instead, a target false-alarm rate).
val_evaluator = dict(type='AnomalyMetric', threshold_rule='f1', quantile=0.99)
