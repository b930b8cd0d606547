# A tiny class-conditional BigGAN (16 px, widths <= 16, 3 classes) for Runner tests: 6 iterations of batch 4 with
# d_steps=2 (two D steps of 2 reals each), checkpoints every 2 iterations, no validation in training (tools/test.py
# runs the FID-proxy). Tests pass --data-root (a conditional class folder).
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.helpers.gan_data', 'tests.helpers.toy'], allow_failed_imports=False)

data_root = 'data/classes-missing'
num_classes = 3
model = dict(
    type='BigGAN',
    generator=dict(type='BigGANGenerator', resolution=16, z_dim=12, c_dim=num_classes, shared_dim=8, ch=4),
    discriminator=dict(type='ProjectionDiscriminator', resolution=16, c_dim=num_classes, ch=4),
    d_steps=2, ema_kimg=0.01)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False)
pipeline = [dict(type='LoadGANImage'), dict(type='GANResizeCrop', resolution=16), dict(type='PackGANInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(type='ImageFolderDataset', data_root=data_root, conditional=True,
                                     classes=('disc', 'ellipse', 'stripes'), pipeline=pipeline))
test_dataloader = dict(batch_size=6, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                       dataset=dict(type='ImageFolderDataset', data_root=data_root, conditional=True,
                                    classes=('disc', 'ellipse', 'stripes'), pipeline=pipeline, test_mode=True))
test_evaluator = [dict(type='FrechetInceptionDistance', fallback='lite0')]
test_cfg = dict(type='TestLoop')
adam = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.0, 0.999)))
optim_wrapper = dict(constructor='MultiOptimWrapperConstructor', generator=adam,
                     discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=8e-4, betas=(0.0, 0.999))))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=10))
custom_hooks = [dict(type='AssertRanksInSyncHook'), dict(type='KillAtIterHook', kill_at=-1)]
log_processor = dict(by_epoch=False)
randomness = dict(seed=7, deterministic=True)
