# A tiny config for Runner tests: tests.helpers.toy registers its model, dataset, metric and hooks.
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.helpers.toy'], allow_failed_imports=False)

data_root = 'data/toy-missing'  # tests always pass --data-root
model = dict(type='ToyModel')
train_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ToyDataset', data_root=data_root, size=32, seed=0), collate_fn=dict(type='default_collate'))
val_dataloader = dict(
    batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ToyDataset', data_root=data_root, size=16, seed=1), collate_fn=dict(type='default_collate'))
val_evaluator = dict(type='ToyAccuracy')
test_dataloader = val_dataloader
test_evaluator = val_evaluator
train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', milestones=[2], by_epoch=True)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=10))
randomness = dict(seed=7, deterministic=True)
