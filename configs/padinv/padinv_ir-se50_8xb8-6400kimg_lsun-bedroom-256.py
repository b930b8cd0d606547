# PadInv on the StyleGAN2 LSUN-bedroom-256 generator (official encoder_stylegan2_bedroom_train.sh): IR-SE50 at
# 256 px, MSE 1.0 + LPIPS-alex 0.8 + 0.003 W-norm + adversarial 0.05 (softplus, D from the GAN checkpoint, R1 10,
# D Adam 1e-4), no identity loss.
_base_ = [
    '../_base_/models/padinv_ir-se50-256.py', '../_base_/datasets/lsun-bedroom-256_inversion.py',
    '../_base_/schedules/padinv_adam_6400kimg.py', '../_base_/default_runtime.py',
]
model = dict(image_size=None, discriminator=True, r1_gamma=10.0, loss=dict(id_weight=0.0, adv_weight=0.05))
optim_wrapper = dict(discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999))))
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=False)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10_000, max_keep_ckpts=3, save_last=True),
                     logger=dict(interval=100))
log_processor = dict(by_epoch=False)
