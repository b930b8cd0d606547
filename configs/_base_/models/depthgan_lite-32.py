# A small DepthGAN for CPU demos at 32 x 32 (the offline rooms): both paths 2-layer mappings, 64-d latents, channels
# min(1024 // r, 64) (the rgb path has the size of stylegan2_lite-32.py's generator). The warp's focal length is the
# rooms' fixed field of view at 32 px (260 * 32 / 256; official 260 at every size), the depth shift 0 because the
# rooms' depth is normalised from (0, far) (official s = -0.13 for LeReS depth). Loss weights are the 128 px scripts'
# (rgbrotloss 0.3); R1 follows stylegan2-ada's 'auto' rule for a minibatch of 8 at 32 px (0.0256) as the StyleGAN2
# CPU baseline does, the EMA its 2.5 kimg half-life with ramp-up 0.05.
model = dict(
    type='DepthGAN',
    generator=dict(type='DepthGANGenerator', resolution=32, z_dim_depth=64, z_dim_rgb=64, w_dim=64, mapping_layers=2,
                   channel_base=1024, channel_max=64),
    discriminator=dict(type='DepthGANDiscriminator', resolution=32, channel_base=1024, channel_max=64,
                       mbstd_group_size=4, depth_head_resolutions=(32, 16, 8)),
    data_preprocessor=dict(type='GANDataPreprocessor'),
    drot_weight=50.0, rgbrot_weight=0.3, gdepth_weight=0.001, ddepth_weight=0.8, r1_gamma=0.0256, r1_interval=16,
    style_mixing_prob=0.9, warp_focal=260.0 * 32 / 256, depth_shift=0.0, ema_kimg=2.5, ema_rampup=0.05, val_seed=0,
)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
