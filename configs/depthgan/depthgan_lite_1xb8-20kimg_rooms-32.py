# CPU demo: a small DepthGAN on the offline rooms (32 px, true planar depth), 1 process x 8 images, 20k images, the
# official schedule's optimizers and ratios at the StyleGAN2 CPU baseline's lr (stylegan2_lite_1xb8-20kimg), so that
# make demo-depthgan compares the two at the same budget. Validated and checkpointed every 500 iterations.
_base_ = [
    '../_base_/models/depthgan_lite-32.py', '../_base_/datasets/rooms-32.py',
    '../_base_/schedules/depthgan_adam_25000kimg.py', '../_base_/default_runtime.py',
]
base_lr = 0.0025
g_optim = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=base_lr * 4 / 5, betas=(0.0, 0.99**(4 / 5))))
optim_wrapper = dict(
    generator_depth=g_optim, generator_rgb=g_optim,
    discriminator=dict(optimizer=dict(lr=base_lr * 16 / 17)))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20_000 // 8, val_interval=500)
# FID-proxy on RGB and on depth (Lite0 features without the Inception weights: fd_lite0 / fd_lite0_depth, NOT FID),
# RotEval (3D consistency of two yaws of one latent) and D's depth-bin head on real and fake images.
val_evaluator = [
    dict(type='FrechetInceptionDistance', fallback='lite0'),
    dict(type='FrechetInceptionDistance', fallback='lite0', fake_key='fake_depth_img', real_key='real_depth_img',
         key_suffix='_depth'),
    dict(type='RotEval'),
    dict(type='DepthBinAccuracy'),
]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=2, save_last=True),
                     logger=dict(interval=50))
log_processor = dict(by_epoch=False, window_size=50)
