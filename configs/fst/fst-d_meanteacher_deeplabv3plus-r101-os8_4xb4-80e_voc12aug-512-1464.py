# FST-D (arXiv 2209.06993) around the Mean-Teacher baseline, PASCAL VOC classic 1464 split: the U2PL recipe (4 GPUs x
# (4 labeled + 4 unlabeled), crop 513, 80 epochs, SGD 1e-3, decoder x10) with K = 3 virtual steps on the same batch
# (spec B1/B3, SSL code: EMA ramp up to 0.99, one more EMA after the real step). The optimiser state and the BN
# buffers are NOT restored after the virtual steps, as in the official code (restore_*=True restores them exactly).
# Cost: 4 student forward/backward + 4 teacher forwards per iteration (spec B4).
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/voc12aug-512.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
model = dict(type='FST', mode='D', k=3, ema_alpha=None, same_batch=True, ema_after_real_step=True,
             restore_optimizer=False, restore_buffers=False,
             method=dict(type='MeanTeacher', sup_only_epochs=1, ema_momentum=0.99, cutmix_prob=0.0,
                         eval_model='teacher'))
