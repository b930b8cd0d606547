# The demo-size two-stream loader on the generic folder layout (configs/_base_/datasets/folder-seg.py): 96x96
# weak crops for labeled images, weak + strong for unlabeled ones, 4 + 4 per batch, one CPU process.
# Shared by the lite0 demo configs of U2PL, MeanTeacher, FST-D and FST-W.
_base_ = ['./folder-seg.py']
# U2PL's VOC weak view (see voc12aug-512.py): split scale draw, centred mean-colour padding, padding labeled 0
# (the demo's background); the pad colour is lite0's normalisation mean (127.5), i.e. a normalised 0.
weak = dict(type='SegWeakAug', crop_size=(96, 96), scale_range=(0.5, 2.0), flip_prob=0.5, ignore_index=255,
            scale_sampling='split', pad_val=(127.5, 127.5, 127.5), pad_position='center', seg_pad_val=0)
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(
    labeled=dict(pipeline=[dict(type='LoadSegImage'), dict(type='LoadSegMask'), weak, dict(type='PackSegInputs')]),
    unlabeled=dict(pipeline=[dict(type='LoadSegImage'), weak, dict(type='SegStrongAug'), dict(type='PackSegInputs')])))
