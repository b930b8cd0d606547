# U2PL PASCAL VOC recipe (experiments/pascal/*/config.yaml, u2pl/utils/lr_helper.py): SGD lr 1e-3 for the
# backbone and x10 for the decoder (`times=10` on pascal), momentum 0.9, wd 1e-4, poly decay (power 0.9) stepped
# every iteration, 80 epochs, validation every epoch. lr 1e-3 is for 4 GPUs x 4 labeled images (16 per step);
# scale it linearly with the total batch (auto_scale_lr). Cityscapes: lr 1e-2 without x10, wd 5e-4, 200 epochs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}),
)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=80, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=80, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=16, enable=False)
