# GPU: pi-GAN on CelebA 64 with the released curriculum (marcoamonteiro/pi-GAN curriculums.py 'CelebA'): 200k
# iterations of batch 56 (11.2M images), FID every 5000 (train.py eval_freq) on 8000 images (fid_evaluation.py).
# Data: the aligned CelebA images as a folder (img_align_celeba/*.jpg); pass --data-root DIR. The official crop is
# Resize(320) + CenterCrop(256) (the central 80% of the width) then nearest to 64; GANResizeCrop keeps the full width.
_base_ = ['../_base_/models/pigan_siren-256x8-64.py', '../_base_/schedules/pigan_adam.py', '../_base_/default_runtime.py']
data_root = 'data/celeba/img_align_celeba'
pipeline = [dict(type='LoadGANImage', color_type='color'),
            dict(type='GANResizeCrop', resolution=64, down_interpolation='nearest'), dict(type='PackGANInputs')]
train_pipeline = pipeline[:2] + [dict(type='GANRandomFlip', prob=0.5, seed=0), dict(type='PackGANInputs')]
dataset = dict(type='ImageFolderDataset', data_root=data_root)
train_dataloader = dict(batch_size=56, num_workers=8, persistent_workers=True, dataset=dict(
    **dataset, pipeline=train_pipeline), sampler=dict(type='InfiniteSampler', shuffle=True))
val_dataloader = dict(batch_size=56, num_workers=8, sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(**dataset, indices=8000, pipeline=pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = [dict(type='FrechetInceptionDistance', real_stats_name='celeba-64-8k'),
                 dict(type='MultiViewConsistency', fov=12.0, depth_kind='ray')]
test_evaluator = val_evaluator
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200_000, val_interval=5000)
val_cfg, test_cfg = dict(type='ValLoop'), dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=3, save_last=True))
log_processor = dict(by_epoch=False)
