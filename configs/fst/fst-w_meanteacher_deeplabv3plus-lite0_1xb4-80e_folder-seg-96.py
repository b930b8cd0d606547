# Demo-size FST-W on the generic folder layout (5 demo classes): lite0 DeepLabV3+, 96x96 crops, 1 CPU process, K = 2
# virtual students, each one step from the snapshot on its own extra batch (FutureBatchDataset adds K independently
# drawn labeled + unlabeled samples per item: data['future']); student and optimiser restored exactly after them.
# Inner method as the FST-D demo: FST's Mean-Teacher "cutmix" baseline (no warm-up, CutMix 0.5 on the weak view,
# joint student pass, 80 % lowest-entropy pseudo-labels).
_base_ = [
    '../_base_/models/deeplabv3plus_lite0.py', '../_base_/datasets/folder-seg-96_demo.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
train_dataloader = dict(dataset=dict(type='FutureBatchDataset', k=2))
model = dict(type='FST', mode='W', k=2, same_batch=False, decode_head=dict(num_classes=5),
             method=dict(type='MeanTeacher', sup_only_epochs=0, pseudo_filter='entropy', keep_percent=80.0,
                         student_view='weak', joint_forward=True, cutmix_prob=0.5))
optim_wrapper = dict(optimizer=dict(lr=1e-2))
