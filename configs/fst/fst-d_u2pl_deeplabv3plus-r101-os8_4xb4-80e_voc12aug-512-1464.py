# FST-D (arXiv 2209.06993) around U2PL (arXiv 2203.03884), PASCAL VOC classic 1464 split: the U2PL recipe of
# configs/u2pl (1 supervised-only epoch, CutMix 0.5, lambda_u 1, lambda_c 0.1) with K = 3 virtual steps on the same
# batch. The official SSL FST drops U2PL's contrastive term (spec B3); set method.lambda_c=0.0 to follow it. U2PL's
# memory queues are restored before every pass (FST restore_method_buffers=True: one batch's negatives per
# iteration; False is the official code path, K+1 pushes). Optimiser state / BN buffers not restored (official code).
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/voc12aug-512.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
model = dict(type='FST', mode='D', k=3, ema_alpha=None, same_batch=True, ema_after_real_step=True,
             restore_optimizer=False, restore_buffers=False, decode_head=dict(with_repr=True),
             method=dict(type='U2PL', sup_only_epochs=1, lambda_u=1.0, lambda_c=0.1, alpha0=20.0, cutmix_prob=0.5,
                         ema_momentum=0.99, eval_model='teacher'))
