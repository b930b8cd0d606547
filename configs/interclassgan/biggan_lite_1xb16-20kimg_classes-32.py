# InterClassGAN (He et al., arXiv 2203.11173) part 1, CPU demo: the class-conditional GAN it interprets, a small
# BigGAN (arXiv 1809.11096; configs/_base_/models/biggan_lite-32.py) on the six offline classes at 32 px
# (configs/_base_/datasets/classes-32.py), 1 process x 16 images, 20k images = 1250 iterations, validated (FID-proxy
# fd_lite0 over all 1200 images) and checkpointed every 625 iterations (about 0.5 s/iteration on one CPU thread).
# Optimizers: Adam betas (0, 0.999) as BigGAN; BigGAN's ImageNet rates are G 1e-4 / D 4e-4 at batch 2048 with 2 D
# steps per G step. At CPU scale (batch 16, d_steps=1, a short schedule) we keep its 1:4 two-time-scale ratio at
# twice the rates: G 2e-4, D 8e-4 (our choice, not a published setting). No lr schedule (BigGAN has none).
_base_ = [
    '../_base_/models/biggan_lite-32.py', '../_base_/datasets/classes-32.py', '../_base_/default_runtime.py',
]
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.0, 0.999), eps=1e-6)),
    discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=8e-4, betas=(0.0, 0.999), eps=1e-6)),
)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20_000 // 16, val_interval=625)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=625, max_keep_ckpts=2, save_last=True),
                     logger=dict(interval=50))
log_processor = dict(by_epoch=False, window_size=50)
