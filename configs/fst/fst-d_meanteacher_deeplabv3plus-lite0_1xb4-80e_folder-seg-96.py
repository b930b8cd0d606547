# Demo-size FST-D on the generic folder layout (5 demo classes): lite0 DeepLabV3+, 96x96 crops, 1 CPU process, K = 2
# virtual steps, student and optimiser restored exactly after them (the gen3d default). Inner method: FST's
# Mean-Teacher "cutmix" baseline (official semi_seg/experiments/pascal/662/cutmix_fst): no warm-up, CutMix 0.5 on the
# weak view, one student pass on [x_l; x_u], 80 % lowest-entropy pseudo-labels of the train-mode teacher.
_base_ = [
    '../_base_/models/deeplabv3plus_lite0.py', '../_base_/datasets/folder-seg-96_demo.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
model = dict(type='FST', mode='D', k=2, decode_head=dict(num_classes=5),
             method=dict(type='MeanTeacher', sup_only_epochs=0, pseudo_filter='entropy', keep_percent=80.0,
                         student_view='weak', joint_forward=True, cutmix_prob=0.5))
optim_wrapper = dict(optimizer=dict(lr=1e-2))
