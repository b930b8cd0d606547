# PadInv on the StyleGAN2 FFHQ-1024 generator (official encoder_stylegan2_ffhq_train.sh): IR-SE50 encoder at 256 px,
# Adam 1e-4, batch 8 per GPU, 6.4M images, MSE 1.0 + LPIPS-alex 0.8 + ID 0.1 + 0.003 W-norm, no discriminator;
# trained on FFHQ, tested on CelebA-HQ. Set the generator and the LPIPS (the combined file, configs/padinv/README.md)
# and ArcFace weights files:
#   --cfg-options model.generator_ckpt=G.pth model.loss.lpips_weights=lpips_alex.pth \
#                 model.loss.arcface_weights=arcface_ir_se50.pth
_base_ = [
    '../_base_/models/padinv_ir-se50-256.py', '../_base_/datasets/ffhq-256_inversion.py',
    '../_base_/schedules/padinv_adam_6400kimg.py', '../_base_/default_runtime.py',
]
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10_000, max_keep_ckpts=3, save_last=True),
                     logger=dict(interval=100))
log_processor = dict(by_epoch=False)
