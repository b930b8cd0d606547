# A small class-conditional BigGAN (arXiv 1809.11096) for CPU demos at 32 x 32 RGB over the 6 offline classes
# (configs/_base_/datasets/classes-32.py): G ch 16 x 4 = 64 channels at every scale (BigGAN's 32-px architecture with
# ch 16 instead of 64), 3 up-blocks from 4x4, z_dim 64 = 4 chunks of 16 (hierarchical latent), shared class embedding
# 32 (BigGAN: 128); projection D: 3 residual down-blocks (32 -> 4) and one more at 4x4 (extra_blocks), 64 channels.
# Hinge loss; d_steps=1 at CPU scale (BigGAN: 2). EMA half-life 2.5 kimg with ramp-up 0.05, as the StyleGAN2 CPU demo.
num_classes = 6
model = dict(
    type='BigGAN',
    generator=dict(type='BigGANGenerator', resolution=32, z_dim=64, c_dim=num_classes, shared_dim=32, ch=16,
                   img_channels=3),
    discriminator=dict(type='ProjectionDiscriminator', resolution=32, img_channels=3, c_dim=num_classes, ch=16,
                       extra_blocks=1),
    data_preprocessor=dict(type='GANDataPreprocessor'),
    d_steps=1, adversarial_loss='hinge', ema_kimg=2.5, ema_rampup=0.05, val_seed=0,
)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
