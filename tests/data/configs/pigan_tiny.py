# A tiny pi-GAN (16 px, SIREN 2 x 16, 4 + 4 samples, D at width 0.05) for Runner tests: 6 iterations of batch 2,
# growing 8 -> 16 px at iteration 2 (fade over 2), checkpoints every 2 iterations, no validation. No flip: the
# stateful PoseRandomFlip does not resume exactly. Tests pass --data-root (tests/helpers/pose_data.py writes one).
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.helpers.gan_data', 'tests.helpers.toy'], allow_failed_imports=False)

data_root = 'data/shape3d-missing'
model = dict(
    type='PiGAN',
    generator=dict(type='PiGANGenerator', z_dim=8, hidden_dim=16, n_layers=2, mapping_hidden=16, img_resolution=16,
                   num_steps=4, avg_samples=64),
    discriminator=dict(type='PiGANDiscriminator', img_resolution=16, width=0.05, latent_dim=0),
    curriculum=[dict(start_iter=0, resolution=8, batch_size=2, num_steps=4, fade_steps=2),
                dict(start_iter=2, resolution=16, batch_size=2, num_steps=4, lr_g=1e-4, lr_d=4e-4, fade_steps=2)],
    topk_interval=1, noise_fade_steps=4)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False)
pipeline = [dict(type='LoadGANImage'), dict(type='LoadPoseGeometry'), dict(type='PackPoseInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(type='PoseImageDataset', data_root=data_root, require=('pose', 'depth'),
                                     pipeline=pipeline))
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=6e-5, betas=(0.0, 0.9)),
                   clip_grad=dict(max_norm=10.0)),
    discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.0, 0.9)),
                       clip_grad=dict(max_norm=10.0)))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=10))
custom_hooks = [dict(type='AssertRanksInSyncHook'), dict(type='KillAtIterHook', kill_at=-1)]
log_processor = dict(by_epoch=False)
randomness = dict(seed=7, deterministic=True)
