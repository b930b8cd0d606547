# FST's Mean-Teacher baseline without FST (official semi_seg/experiments/pascal/662/mt/config.yaml), PASCAL VOC
# blender 1/16 (662 labeled): the recipe of fst-d_meanteacher_deeplabv3plus-r101-os8_4xb4-40e_voc12aug-512-662.py
# (4 GPUs x (4 + 4), crop 513, 40 epochs, SGD 1e-3 / decoder x10, wd 1e-4, SyncBN, no warm-up, EMA up to 0.99,
# joint student pass on the weak view, 80 % lowest-entropy pseudo-labels) with one plain step per iteration, so that
# the two runs measure the gain of FST over MT.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/voc12aug-512-662.py',
    '../_base_/schedules/seg_sgd_40e.py', '../_base_/default_runtime.py',
]
model = dict(type='MeanTeacher', sup_only_epochs=0, ema_momentum=0.99, pseudo_filter='entropy', keep_percent=80.0,
             student_view='weak', joint_forward=True, cutmix_prob=0.0, eval_model='teacher')
sync_bn = 'torch'  # official sync_bn: True (the student only there; used when training distributed)
