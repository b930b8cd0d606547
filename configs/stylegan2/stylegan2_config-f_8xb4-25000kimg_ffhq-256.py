# StyleGAN2 config F on FFHQ-256, Hammer's recipe: 8 GPUs x 4 images, 25M images, Adam 0.002 (0, 0.99),
# R1 gamma 10 every 16, path length every 4, style mixing 0.9, G EMA 10 kimg, FID every 6400 iterations.
_base_ = [
    '../_base_/models/stylegan2_config-f-256.py', '../_base_/datasets/ffhq-256.py',
    '../_base_/schedules/stylegan2_adam_25000kimg.py', '../_base_/default_runtime.py',
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=6400, max_keep_ckpts=3, save_last=True, save_best='fid', rule='less'),
    logger=dict(interval=100))
log_processor = dict(by_epoch=False, window_size=100)
