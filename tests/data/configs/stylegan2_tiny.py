# A tiny StyleGAN2 (16 px, widths <= 32) for Runner tests: 6 iterations of batch 2, R1 and path length every
# 2 iterations, checkpoints every 2 iterations, no validation. Tests pass --data-root (a folder of PNGs).
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.helpers.gan_data', 'tests.helpers.toy'], allow_failed_imports=False)

data_root = 'data/gan-missing'
model = dict(
    type='StyleGAN2',
    generator=dict(type='StyleGAN2Generator', resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256,
                   channel_max=32),
    discriminator=dict(type='StyleGAN2Discriminator', resolution=16, channel_base=256, channel_max=32,
                       mbstd_group_size=2),
    r1_gamma=1.0, r1_interval=2, pl_interval=2, ema_kimg=0.01)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False)
pipeline = [dict(type='LoadGANImage'), dict(type='GANResizeCrop', resolution=16),
            dict(type='GANRandomFlip', prob=0.5, seed=0), dict(type='PackGANInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(type='ImageFolderDataset', data_root=data_root, pipeline=pipeline))
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.002, betas=(0.0, 0.99))),
    discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.002, betas=(0.0, 0.99))))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=10))
custom_hooks = [dict(type='AssertRanksInSyncHook'), dict(type='KillAtIterHook', kill_at=-1)]
log_processor = dict(by_epoch=False)
randomness = dict(seed=7, deterministic=True)
