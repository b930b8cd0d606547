# A CPU-sized pi-GAN at 32 px that keeps the kind of every part (gans.md section 10: 32 px, 12 + 12 samples, 4-5 FiLM
# layers of 64): SIREN 4 x 64 with a 64-d latent and mapping, the CelebA camera (fov 12, rays 0.88-1.12, the pose
# distribution of pigan_siren-256x8-64.py), the CCS discriminator at a quarter width without the latent outputs
# (z_lambda is 0 in every released curriculum). The losses, R1 0.2, pose loss 15, top-k, EMA 0.999 and density noise
# are the paper's; the curriculum grows 16 -> 32 px (as pi-GAN's CARLA curriculum grows 32 -> 64 -> 128), fading
# each D level in, and the noise and top-k schedules run 10x faster (500 and 200 steps) for a run of a few hundred.
model = dict(
    type='PiGAN',
    generator=dict(type='PiGANGenerator', z_dim=64, hidden_dim=64, n_layers=4, mapping_hidden=64, img_resolution=32,
                   num_steps=12, fov=12.0, ray_start=0.88, ray_end=1.12, avg_samples=2000),
    discriminator=dict(type='PiGANDiscriminator', img_resolution=32, width=0.25, pose_dim=2, latent_dim=0),
    data_preprocessor=dict(type='GANDataPreprocessor'),
    curriculum=[dict(start_iter=0, resolution=16, batch_size=8, num_steps=12, lr_g=6e-5, lr_d=2e-4, fade_steps=50),
                dict(start_iter=150, resolution=32, batch_size=8, num_steps=12, lr_g=6e-5, lr_d=2e-4, fade_steps=100)],
    r1_gamma=0.2, r1_interval=1, pose_weight=15.0, latent_weight=0.0, topk_interval=200, topk_min=0.6,
    noise_fade_steps=500, ema_decay=0.999, val_yaw_delta=0.3, val_seed=0,
)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
