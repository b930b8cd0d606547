# Demo-size FST-D on the generic folder layout (5 demo classes): lite0 DeepLabV3+, 96x96 crops, 1 CPU process, K = 2
# virtual steps, student and optimiser restored exactly after them (the gen3d default).
_base_ = [
    '../_base_/models/deeplabv3plus_lite0.py', '../_base_/datasets/folder-seg-96_demo.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
model = dict(type='FST', mode='D', k=2, decode_head=dict(num_classes=5),
             method=dict(type='MeanTeacher', sup_only_epochs=1, cutmix_prob=0.5))
optim_wrapper = dict(optimizer=dict(lr=1e-2))
