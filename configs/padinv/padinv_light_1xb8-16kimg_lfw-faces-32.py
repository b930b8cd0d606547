# PadInv (W+ and padding space) on the 32-px grey faces StyleGAN2, CPU: encoder trained on the generator's
# training faces, evaluated (MSE / PSNR / SSIM) on held-out faces. Set the generator and the data:
#   tools/train.py configs/padinv/padinv_light_1xb8-16kimg_lfw-faces-32.py --cfg-options \
#     model.generator_ckpt=work_dirs/stylegan2_lite_1xb8-20kimg_lfw-faces-32/iter_2500.pth
_base_ = [
    '../_base_/models/padinv_light-32.py', '../_base_/datasets/lfw-faces-32_inversion.py',
    '../_base_/schedules/padinv_adam_16kimg.py', '../_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=2, save_last=True),
                     logger=dict(interval=50))
log_processor = dict(by_epoch=False, window_size=50)
