# U2PL, PASCAL VOC classic 1464 split (spec A6): 4 GPUs x (4 labeled + 4 unlabeled), crop 513, 80 epochs, SGD 1e-3
# (decoder x10), 1 supervised-only warm-up epoch, CutMix 0.5, lambda_u 1, lambda_c 0.1 (paper), alpha_0 20 %.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/voc12aug-512.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
model = dict(type='U2PL', decode_head=dict(with_repr=True), sup_only_epochs=1, lambda_u=1.0, lambda_c=0.1,
             alpha0=20.0, cutmix_prob=0.5, ema_momentum=0.99, eval_model='teacher')
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)  # warm-up skips rep head
