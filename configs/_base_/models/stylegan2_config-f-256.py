# StyleGAN2 config F (Karras et al. 2020, arXiv 1912.04958; stylegan2-ada-pytorch layout) at 256 x 256 RGB:
# 8-layer mapping, skip generator, resnet discriminator, channels min(32768 // r, 512). Training phases and
# regularisers as in Hammer's FFHQ-256 recipe: R1 gamma 10 every 16 iterations, path length 2 every 4,
# style mixing 0.9, generator EMA half-life 10 kimg.
model = dict(
    type='StyleGAN2',
    generator=dict(type='StyleGAN2Generator', resolution=256, z_dim=512, w_dim=512, mapping_layers=8,
                   channel_base=32768, channel_max=512, img_channels=3),
    discriminator=dict(type='StyleGAN2Discriminator', resolution=256, img_channels=3, channel_base=32768,
                       channel_max=512, mbstd_group_size=4),
    data_preprocessor=dict(type='GANDataPreprocessor'),
    r1_gamma=10.0, r1_interval=16, pl_weight=2.0, pl_interval=4, pl_decay=0.01, pl_batch_shrink=2,
    style_mixing_prob=0.9, ema_kimg=10.0, ema_rampup=None, val_seed=0,
)
# G and D are wrapped in separate DDPs (the model averages its own gradients, see gen3d/models/gans/base_gan.py).
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
