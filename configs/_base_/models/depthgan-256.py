# DepthGAN at 256 x 256 (VivianSZF/depthgan scripts/training_demos/depthgan_lsun_{bedroom,kitchen}256.sh and
# configs/depthgan_config.py): two 512-d latents, 8-layer mappings (w_avg decay 0.995), g/d_fmaps_factor 0.5
# (channel_base 0.5 * 32768 = 16384, cap 512), minibatch-stddev groups 8, depth head on the 64/32/16 features with 10
# bins, conv_clamp 256 (num_fp16_res=4; gen3d runs fp32 unless --amp). Losses: drotloss 50, rgbrotloss 0.5 (bedroom;
# kitchen-256 0.4, both 128s 0.3), gdloss 0.001, ddloss 0.8; R1 gamma 0.5 (0.3 at 128) every 16 on the RGBD reals;
# style mixing 0.9 (appearance path); EMA 20 kimg without ramp-up; training and validation noise 'none' in the
# official runner ('none' for training here, validation renders with the constant noise maps). The warp: focal 260 px
# at every resolution, depth shift s = -0.13 (LeReS depth), yaw ~ U(-pi/12, pi/12).
model = dict(
    type='DepthGAN',
    generator=dict(type='DepthGANGenerator', resolution=256, z_dim_depth=512, z_dim_rgb=512, w_dim=512,
                   mapping_layers=8, channel_base=16384, channel_max=512, w_avg_beta=0.995, conv_clamp=256),
    discriminator=dict(type='DepthGANDiscriminator', resolution=256, channel_base=16384, channel_max=512,
                       mbstd_group_size=8, conv_clamp=256, depth_head_resolutions=(64, 32, 16)),
    data_preprocessor=dict(type='GANDataPreprocessor'),
    drot_weight=50.0, rgbrot_weight=0.5, gdepth_weight=0.001, ddepth_weight=0.8, r1_gamma=0.5, r1_interval=16,
    style_mixing_prob=0.9, warp_focal=260.0, depth_shift=-0.13, train_noise_mode='none', ema_kimg=20.0,
    ema_rampup=None, val_seed=0,
)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
