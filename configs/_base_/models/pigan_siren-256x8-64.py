# pi-GAN (arXiv 2012.00926) at 64 px with the settings of marcoamonteiro/pi-GAN curriculums.py 'CelebA' and train.py:
# SIREN of 8 FiLM layers x 256 with 12 + 12 samples per ray, fov 12, rays 0.88-1.12, yaw ~ N(pi/2, 0.3), pitch ~
# N(pi/2, 0.155) (the PiGANGenerator defaults), CCSEncoderDiscriminator (1 + 256 + 2 outputs), R1 0.2 every step,
# pose loss 15, top-k fraction max(0.99^(t/2000), 0.6), EMA decay 0.999, density noise fading to 0 over 5000 steps,
# Adam betas (0, 0.9), gradients clipped to norm 10. The released CelebA curriculum is ONE stage at 64 px (batch 56
# in 2 splits, G lr 6e-5, D lr 2e-4), its first D level faded in over 10k steps; it ends at 200k steps.
model = dict(
    type='PiGAN',
    generator=dict(type='PiGANGenerator', z_dim=256, hidden_dim=256, n_layers=8, img_resolution=64, num_steps=12,
                   fov=12.0, ray_start=0.88, ray_end=1.12),
    discriminator=dict(type='PiGANDiscriminator', img_resolution=64, pose_dim=2, latent_dim=256),
    data_preprocessor=dict(type='GANDataPreprocessor'),
    curriculum=[dict(start_iter=0, resolution=64, batch_size=56, num_steps=12, lr_g=6e-5, lr_d=2e-4,
                     fade_steps=10000, batch_split=2)],
    r1_gamma=0.2, r1_interval=1, pose_weight=15.0, latent_weight=0.0, topk_interval=2000, topk_min=0.6,
    noise_fade_steps=5000, ema_decay=0.999, val_yaw_delta=0.3, val_seed=0,
)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
