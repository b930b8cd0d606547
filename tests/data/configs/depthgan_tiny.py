# A tiny DepthGAN (16 px, both paths 8-d latents, channels <= 16) for Runner tests: 6 iterations of batch 2 on the
# offline rooms (tests pass --data-root), R1 every 2 iterations, checkpoints every 2, no validation, no flip (the
# stateful flip does not resume exactly).
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.helpers.gan_data', 'tests.helpers.toy'], allow_failed_imports=False)

data_root = 'data/rooms-missing'
model = dict(
    type='DepthGAN',
    generator=dict(type='DepthGANGenerator', resolution=16, z_dim_depth=8, z_dim_rgb=8, w_dim=16, mapping_layers=2,
                   channel_base=128, channel_max=16),
    discriminator=dict(type='DepthGANDiscriminator', resolution=16, channel_base=128, channel_max=16,
                       mbstd_group_size=2, depth_head_resolutions=(16, 8)),
    r1_gamma=1.0, r1_interval=2, warp_focal=260.0 * 16 / 256, depth_shift=0.0, ema_kimg=0.01)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False)
pipeline = [dict(type='LoadGANImage', color_type='color'), dict(type='LoadRGBDDepth'), dict(type='PackRGBDInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(type='RGBDDataset', data_root=data_root, pipeline=pipeline))
adam = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-3, betas=(0.0, 0.99)))
optim_wrapper = dict(constructor='MultiOptimWrapperConstructor', generator_depth=adam, generator_rgb=adam,
                     discriminator=adam)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=10))
custom_hooks = [dict(type='AssertRanksInSyncHook'), dict(type='KillAtIterHook', kill_at=-1)]
log_processor = dict(by_epoch=False)
randomness = dict(seed=7, deterministic=True)
# tools/test.py: the DepthGAN metrics written by --out (FID-proxy on RGB and depth, RotEval, the depth-bin head;
# generated-depth error off without an estimator file)
test_dataloader = dict(batch_size=3, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                       dataset=dict(type='RGBDDataset', data_root=data_root, pipeline=pipeline, test_mode=True))
test_evaluator = [
    dict(type='FrechetInceptionDistance', fallback='lite0'),
    dict(type='FrechetInceptionDistance', fallback='lite0', fake_key='fake_depth_img', real_key='real_depth_img',
         key_suffix='_depth'),
    dict(type='RotEval'),
    dict(type='DepthBinAccuracy'),
    dict(type='GeneratedDepthError', estimator=None),
]
test_cfg = dict(type='TestLoop')
