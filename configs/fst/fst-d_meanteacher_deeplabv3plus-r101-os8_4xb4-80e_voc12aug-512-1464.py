# FST-D (arXiv 2209.06993) around FST's Mean-Teacher baseline (official semi_seg/experiments/pascal/662/mt_fst), on
# the PASCAL VOC classic 1464 split with U2PL's 80-epoch schedule (4 GPUs x (4 labeled + 4 unlabeled), crop 513, SGD
# 1e-3, decoder x10): no warm-up, one student pass on [x_l; x_u] (weak view, no CutMix), 80 % lowest-entropy
# pseudo-labels of the train-mode teacher, K = 3 virtual steps on the same batch (spec B1/B3, SSL code: EMA ramp up
# to 0.99, one more EMA after the real step). The optimiser state and the BN buffers are NOT restored after the
# virtual steps, as in the official code. Cost: 4 student forward/backward + 4 teacher forwards per iteration.
# Official 1/16 recipe (662 blender, 40 epochs): fst-d_meanteacher_*_4xb4-40e_voc12aug-512-662.py next to this file.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/voc12aug-512.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
model = dict(type='FST', mode='D', k=3, ema_alpha=None, same_batch=True, ema_after_real_step=True,
             restore_optimizer=False, restore_buffers=False,
             method=dict(type='MeanTeacher', sup_only_epochs=0, ema_momentum=0.99, pseudo_filter='entropy',
                         keep_percent=80.0, student_view='weak', joint_forward=True, cutmix_prob=0.0,
                         eval_model='teacher'))
