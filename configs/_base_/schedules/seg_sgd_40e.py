# FST semi-supervised PASCAL VOC recipe (semi_seg/experiments/pascal/662/*/config.yaml, fst/utils/lr_helper.py,
# train_semi.py): U2PL's recipe (seg_sgd_80e.py: SGD lr 1e-3 for the backbone and x10 for the decoder, momentum 0.9,
# wd 1e-4, poly decay (power 0.9) stepped every iteration, validation every epoch, lr for 4 GPUs x 4 labeled images)
# for 40 epochs.
_base_ = ['./seg_sgd_80e.py']
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=40, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=40)
