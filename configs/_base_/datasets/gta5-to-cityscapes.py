# UDA GTA5 -> Cityscapes as FST / DAFormer (spec B3; FST configs/_base_/datasets/uda_gta_to_cityscapes_512x512.py):
# 2 source (GTA5, labels mapped to the 19 train ids on load) + 2 target (Cityscapes train, unlabeled) per iteration,
# crop 512. GTA5 as mmseg Resize(img_scale=(1280, 720), keep_ratio=True) (1914x1052 -> 1280x704; a label map of
# another size is first resized to its image, nearest) then RandomCrop(cat_max_ratio=0.75): the crop box is redrawn
# (up to 10 times) while one class covers >= 75 % of it. Cityscapes 2048x1024 -> 1024x512 (the keep-ratio size), plain
# random crop; strong view = colour aug on the weak crop (ClassMix is the model's). Validation: Cityscapes val at
# 1024x512 (ground truth kept at 2048x1024: the mask is loaded after the resize).
gta_root = 'data/gta'
data_root = 'data/cityscapes'
crop_size = (512, 512)
source_pipeline = [
    dict(type='LoadSegImage'),
    dict(type='LoadSegMask', size_mismatch='resize'),
    dict(type='SegKeepRatioResize', scale=(1280, 720)),
    dict(type='SegWeakAug', crop_size=crop_size, scale_range=(1.0, 1.0), flip_prob=0.5, ignore_index=255,
         cat_max_ratio=0.75),
    dict(type='PackSegInputs'),
]
target_pipeline = [
    dict(type='LoadSegImage'),
    dict(type='SegAlbu', transforms=[dict(type='Resize', height=512, width=1024)]),
    dict(type='SegWeakAug', crop_size=crop_size, scale_range=(1.0, 1.0), flip_prob=0.5, ignore_index=255),
    dict(type='SegStrongAug', color_jitter=(0.2, 0.2, 0.2, 0.05), jitter_prob=0.2, gray_prob=0.0, blur_prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadSegImage'),
    dict(type='SegAlbu', transforms=[dict(type='Resize', height=512, width=1024)]),
    dict(type='LoadSegMask'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=4, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='SemiSupervisedDataset',
        labeled=dict(type='GTA5Dataset', data_root=gta_root, pipeline=source_pipeline),
        unlabeled=dict(type='CityscapesDataset', data_root=data_root, split='train', labeled=False,
                       pipeline=target_pipeline)))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CityscapesDataset', data_root=data_root, split='val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', ignore_index=255)
test_evaluator = val_evaluator
