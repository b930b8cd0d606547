# CPU demo: a narrow pi-GAN (SIREN 4 x 64, 12 + 12 samples, 16 -> 32 px) on the offline 3D set, 1 process x 8
# images, 500 iterations (4k images), validated and checkpointed every 250 iterations.
_base_ = ['../_base_/models/pigan_siren-64x4-32.py', '../_base_/datasets/shape3d-32.py',
          '../_base_/schedules/pigan_adam.py', '../_base_/default_runtime.py']
train_cfg = dict(type='IterBasedTrainLoop', max_iters=500, val_interval=250)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=250, max_keep_ckpts=2, save_last=True),
                     logger=dict(interval=25))
log_processor = dict(by_epoch=False, window_size=25)
