# StyleGAN2 / Hammer FFHQ-256 schedule: Adam lr 0.002, betas (0, 0.99) for G and D; 25M real images at a
# global batch of 32 (8 GPUs x 4) = 781250 iterations.
# Lazy regularisation adds one optimizer step every `interval` iterations, so lr and betas are rescaled by
# c = interval / (interval + 1) (StyleGAN2 Sec. 3.1; stylegan2-ada train.py `mb_ratio`). The intervals here must
# match model.pl_interval (G) and model.r1_interval (D).
g_reg_interval, d_reg_interval = 4, 16
g_c, d_c = g_reg_interval / (g_reg_interval + 1), d_reg_interval / (d_reg_interval + 1)
base_lr = 0.002
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=base_lr * g_c, betas=(0.0, 0.99**g_c))),
    discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=base_lr * d_c, betas=(0.0, 0.99**d_c))),
)
total_img = 25_000_000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_img // 32, val_interval=6400)  # Hammer: evaluate / checkpoint every 6400 iterations
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
