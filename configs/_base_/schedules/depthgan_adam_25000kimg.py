# DepthGAN's schedule (VivianSZF/depthgan scripts/training_demos/depthgan_lsun_*.sh, configs/depthgan_config.py):
# three Adam optimizers, lr 0.0015, betas (0, 0.99), each scaled for lazy regularisation as Hammer's config does:
# D by r1_interval 16 -> c = 16 / 17; both generators by pl_interval 4 -> c = 4 / 5 (applied although pl_weight = 0
# in every script, so the generators run at 0.0012). 25M images at 8 GPUs x 8 = 390,625 iterations.
g_reg_interval, d_reg_interval = 4, 16
g_c, d_c = g_reg_interval / (g_reg_interval + 1), d_reg_interval / (d_reg_interval + 1)
base_lr = 0.0015
g_optim = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=base_lr * g_c, betas=(0.0, 0.99**g_c)))
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    generator_depth=g_optim,
    generator_rgb=g_optim,
    discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=base_lr * d_c, betas=(0.0, 0.99**d_c))),
)
total_img = 25_000_000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_img // 64, val_interval=3200)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
