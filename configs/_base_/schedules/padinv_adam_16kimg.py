# CPU schedule of the 32-px PadInv demo: batch 8, 16k images = 2000 iterations, Adam lr 1e-3: 10x the official
# 1e-4 (chosen before any comparison, for a budget ~400x shorter than the official 6.4M images; both encoders of
# the comparison share it).
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    encoder=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999))),
)
total_img = 16_000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_img // 8, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
