# U2PL, Cityscapes 744 labeled (spec A6): 8 GPUs x (2 + 2), crop 769, 200 epochs, SGD lr 1e-2 (no decoder x10),
# wd 5e-4, OHEM CE (ohem=True: 0.7, 100 000), no supervised warm-up, sliding-window test 769 / 513, FCN aux head on
# layer 3 (net.aux_loss: aux_plane 1024, loss_weight 0.4; labeled images only). SyncBN: add sync_bn='torch'.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/cityscapes-769.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
model = dict(type='U2PL', backbone=dict(out_indices=(1, 3, 4)), decode_head=dict(num_classes=19, with_repr=True),
             auxiliary_head=dict(type='FCNAuxHead', in_index=1, channels=256, dropout=0.1, loss_weight=0.4), ohem=True,
             test_cfg=dict(mode='slide', crop_size=(769, 769), stride=(513, 513)), sup_only_epochs=0, lambda_c=0.1)
optim_wrapper = dict(optimizer=dict(lr=1e-2, weight_decay=5e-4),
                     paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=1.0)}))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=200, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=200)
