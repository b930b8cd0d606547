# A tiny PatchCore for tests: Lite0 without pretrained weights, 64 px, no workers, one fitting epoch.
_base_ = ['../../../configs/patchcore/patchcore_effnet-lite0_1xb8-1e_mvtec-224.py']
model = dict(backbone=dict(pretrained=False), input_size=(64, 64))
pipeline = [
    dict(type='LoadAnomalyImage'),
    dict(type='LoadAnomalyMask'),
    dict(type='Albu', transforms=[dict(type='Resize', height=64, width=64)]),
    dict(type='PackAnomalyInputs'),
]
data_root = 'data/patchcore-tiny-missing'  # tests pass --data-root
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=pipeline, val_ratio=0.34))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=pipeline, val_ratio=0.34))
test_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                       dataset=dict(data_root=data_root, pipeline=pipeline))
default_hooks = dict(logger=dict(interval=1))
