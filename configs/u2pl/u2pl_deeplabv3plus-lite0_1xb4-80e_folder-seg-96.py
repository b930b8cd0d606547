# Demo-size U2PL on the generic folder layout (5 demo classes): lite0 DeepLabV3+, 96x96 crops, 1 CPU process.
_base_ = [
    '../_base_/models/deeplabv3plus_lite0.py', '../_base_/datasets/folder-seg-96_demo.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
model = dict(type='U2PL', decode_head=dict(num_classes=5, with_repr=True, repr_channels=64), sup_only_epochs=1,
             lambda_c=0.1, contrastive=dict(queue_size=2000, queue_size_bg=3000))
optim_wrapper = dict(optimizer=dict(lr=1e-2))
