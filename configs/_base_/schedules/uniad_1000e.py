# UniAD official recipe: AdamW lr 1e-4, wd 1e-4, grad-norm clip 0.1, 1000 epochs, StepLR x0.1 at epoch 800.
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1))
param_scheduler = [dict(type='StepLR', step_size=800, gamma=0.1, by_epoch=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1000, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
