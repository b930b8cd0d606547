# A small StyleGAN2 for CPU demos at 32 x 32 grey (1 channel): 2-layer mapping, 64-d latents, channels
# min(1024 // r, 64). Regularisation follows stylegan2-ada's 'auto' config for a minibatch of 8 (train.py
# cfg_specs): R1 gamma = 0.0002 * 32^2 / 8 = 0.0256, EMA half-life 8 * 10 / 32 = 2.5 kimg with ramp-up 0.05.
model = dict(
    type='StyleGAN2',
    generator=dict(type='StyleGAN2Generator', resolution=32, z_dim=64, w_dim=64, mapping_layers=2,
                   channel_base=1024, channel_max=64, img_channels=1),
    discriminator=dict(type='StyleGAN2Discriminator', resolution=32, img_channels=1, channel_base=1024,
                       channel_max=64, mbstd_group_size=4),
    data_preprocessor=dict(type='GANDataPreprocessor'),
    r1_gamma=0.0256, r1_interval=16, pl_weight=2.0, pl_interval=4, pl_decay=0.01, pl_batch_shrink=2,
    style_mixing_prob=0.9, ema_kimg=2.5, ema_rampup=0.05, val_seed=0,
)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
