# FST semi-supervised PASCAL VOC recipe (semi_seg/experiments/pascal/662/*/config.yaml, fst/utils/lr_helper.py,
# train_semi.py): SGD lr 1e-3 for the backbone and x10 for the decoder (`times = 10`), momentum 0.9, wd 1e-4, poly
# decay (power 0.9) stepped every iteration, 40 epochs, validation every epoch. lr 1e-3 is for 4 GPUs x 4 labeled
# images (16 per step); scale it linearly with the total batch (auto_scale_lr). seg_sgd_80e.py is U2PL's 80-epoch
# version of the same recipe.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}),
)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=40, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=40, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=16, enable=False)
