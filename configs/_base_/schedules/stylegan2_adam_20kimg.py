# CPU demo schedule: Adam lr 0.0025 (stylegan2-ada 'auto' config below 1024 px), betas (0, 0.99), 20k real images
# at batch 8 = 2500 iterations. Lazy regularisation correction
# c = interval / (interval + 1) as in stylegan2_adam_25000kimg.py (intervals must match the model's).
g_reg_interval, d_reg_interval = 4, 16
g_c, d_c = g_reg_interval / (g_reg_interval + 1), d_reg_interval / (d_reg_interval + 1)
base_lr = 0.0025
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=base_lr * g_c, betas=(0.0, 0.99**g_c))),
    discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=base_lr * d_c, betas=(0.0, 0.99**d_c))),
)
total_img = 20_000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_img // 8, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
