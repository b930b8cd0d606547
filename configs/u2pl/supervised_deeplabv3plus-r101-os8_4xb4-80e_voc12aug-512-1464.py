# SupOnly baseline of u2pl_deeplabv3plus-r101-os8_4xb4-80e_voc12aug-512-1464.py: same network, labeled split,
# recipe and validation, labeled images only (U2PL reports 72.50 mIoU for SupOnly 1464, spec A9).
_base_ = [
    '../_base_/models/deeplabv3plus_r101-os8.py', '../_base_/datasets/voc12aug-512_labeled-only.py',
    '../_base_/schedules/seg_sgd_80e.py', '../_base_/default_runtime.py',
]
