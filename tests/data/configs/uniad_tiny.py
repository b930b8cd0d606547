# A tiny UniAD for tests: lite0 without pretrained weights, 64 px, 1+1 small layers, no workers, 1 epoch.
_base_ = [
    '../../../configs/_base_/models/uniad_effnet-lite0.py', '../../../configs/_base_/datasets/mvtec-224.py',
    '../../../configs/_base_/schedules/uniad_1000e.py', '../../../configs/_base_/default_runtime.py',
]
model = dict(
    backbone=dict(pretrained=False), input_size=(64, 64),
    reconstruction=dict(hidden_dim=32, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64))
pipeline = [
    dict(type='LoadAnomalyImage'),
    dict(type='LoadAnomalyMask'),
    dict(type='Albu', transforms=[dict(type='Resize', height=64, width=64)]),
    dict(type='PackAnomalyInputs'),
]
data_root = 'data/uniad-tiny-missing'  # tests pass --data-root
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=pipeline, val_ratio=0.34))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=pipeline, val_ratio=0.34))
test_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                       dataset=dict(data_root=data_root, pipeline=pipeline))
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(
    visualization=dict(type='AnomalyVisualizationHook'),
    checkpoint=dict(interval=1, save_best='mean/normal_score_mean', rule='less'),
    logger=dict(interval=1))
