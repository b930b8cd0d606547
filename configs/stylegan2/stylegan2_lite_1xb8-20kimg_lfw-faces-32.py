# CPU demo: a small StyleGAN2 on the 100 offline LFW faces (grey, 32 px), 1 process x 8 images, 20k images,
# validated and checkpointed every 500 iterations.
_base_ = [
    '../_base_/models/stylegan2_lite-32.py', '../_base_/datasets/lfw-faces-32.py',
    '../_base_/schedules/stylegan2_adam_20kimg.py', '../_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=2, save_last=True),
                     logger=dict(interval=50))
log_processor = dict(by_epoch=False, window_size=50)
