# A tiny PadInv for Runner tests: the light encoder (widths <= 16) on a tiny 16-px StyleGAN2 checkpoint
# (tests/helpers/gan.py make_tiny_gan_checkpoint), 6 iterations of batch 2, checkpoints every 2 iterations, no
# validation in training (tools/test.py runs ReconstructionMetric). Tests pass --data-root (a folder of PNGs) and
# --cfg-options model.generator_ckpt=PATH.
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.helpers.gan_data', 'tests.helpers.toy', 'gen3d.models.editing.padinv',
                               'gen3d.evaluation.metrics.reconstruction'], allow_failed_imports=False)

data_root = 'data/gan-missing'
model = dict(type='PadInv', generator_ckpt=None, use_padding=True,
             encoder=dict(backbone='light', backbone_cfg=dict(widths=(8, 16, 16)), fpn_channels=16, padding_level=2),
             loss=dict(lpips_weight=0.0, id_weight=0.0))
pipeline = [dict(type='LoadGANImage'), dict(type='GANResizeCrop', resolution=16),
            dict(type='GANRandomFlip', prob=0.5, seed=0), dict(type='PackGANInputs')]
test_pipeline = [dict(type='LoadGANImage'), dict(type='GANResizeCrop', resolution=16), dict(type='PackGANInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(type='ImageFolderDataset', data_root=data_root, pipeline=pipeline))
test_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                       dataset=dict(type='ImageFolderDataset', data_root=data_root, pipeline=test_pipeline,
                                    test_mode=True))
test_evaluator = dict(type='ReconstructionMetric')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(constructor='MultiOptimWrapperConstructor',
                     encoder=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3)))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=10))
custom_hooks = [dict(type='KillAtIterHook', kill_at=-1)]
log_processor = dict(by_epoch=False)
randomness = dict(seed=7, deterministic=True)
