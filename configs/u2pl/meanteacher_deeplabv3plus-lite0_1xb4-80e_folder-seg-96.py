# Demo-size plain Mean Teacher on the generic folder layout (5 demo classes): lite0 DeepLabV3+, 96x96 crops, 1 CPU
# process. The MeanTeacher of configs/fst/fst-d_meanteacher_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py without the
# FST wrapper: FST's own "cutmix" Mean-Teacher baseline (semi_seg/experiments/pascal/662/cutmix): no warm-up, CutMix
# 0.5 on the weak view, one student pass on [x_l; x_u], CE on the 80 % lowest-entropy pseudo-labels of the train-mode
# teacher. Data pipeline and schedule as the U2PL demo config.
_base_ = [
    '../_base_/models/deeplabv3plus_lite0.py', '../_base_/datasets/folder-seg-96_demo.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
model = dict(type='MeanTeacher', decode_head=dict(num_classes=5), sup_only_epochs=0, pseudo_filter='entropy',
             keep_percent=80.0, student_view='weak', joint_forward=True, cutmix_prob=0.5)
optim_wrapper = dict(optimizer=dict(lr=1e-2))
