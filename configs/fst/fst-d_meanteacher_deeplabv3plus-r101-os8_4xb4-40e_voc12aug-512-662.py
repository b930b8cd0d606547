# FST-D (arXiv 2209.06993) around FST's own Mean-Teacher baseline, PASCAL VOC blender 1/16 (662 labeled, U2PL's lists):
# the official semi_seg/experiments/pascal/662/mt_fst/config.yaml (README: 73.88 mIoU, DeepLabV3+ R101). 4 GPUs x
# (4 labeled + 4 unlabeled), crop 513, 40 epochs, SGD 1e-3 (decoder x10), wd 1e-4, SyncBN, no warm-up (epoch 0 copies
# the student into the teacher), EMA ramp to 0.99; one student pass on [x_l; x_u] (weak view, no CutMix), loss on the
# 80 % lowest-entropy pseudo-labels of the train-mode teacher; K = 3 virtual steps, parameters only restored.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/voc12aug-512-662.py',
    '../_base_/schedules/seg_sgd_40e.py', '../_base_/default_runtime.py',
]
model = dict(type='FST', mode='D', k=3, ema_alpha=None, same_batch=True, ema_after_real_step=True,
             restore_optimizer=False, restore_buffers=False,
             method=dict(type='MeanTeacher', sup_only_epochs=0, ema_momentum=0.99, pseudo_filter='entropy',
                         keep_percent=80.0, student_view='weak', joint_forward=True, cutmix_prob=0.0,
                         eval_model='teacher'))
sync_bn = 'torch'  # official sync_bn: True (the student only there; used when training distributed)
