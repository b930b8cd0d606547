# PadInv encoder schedule (official scripts/encoder_scipts/*_train.sh): Adam lr 1e-4 for the encoder (and D, when
# the adversarial term is on), 6.4M images at batch 8 per GPU; 8 GPUs assumed here (64 per step, 100k iterations).
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    encoder=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999))),
)
total_img = 6_400_000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_img // 64, val_interval=10_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
