# LSUN (bedroom or kitchen) with a monocular depth channel, in the official DepthGAN layout: rgb/<stem>.jpg|png and
# depth/<stem>.png (16-bit, normalised (v - 30000) / 30000; the paper ran LeReS). Make it from an RGB folder with
#   python tools/dataset_converters/estimate_depth.py data/lsun_bedroom/images data/lsun_bedroom_rgbd \
#       --model leres.onnx --input-size 448
# (an unzipped official archive has the same rgb/ + depth/ members). Image and depth are centre-cropped and resized
# together (RGBDResizeCrop; the official crop_resize_image on both); no flips (train_data_mirror=false in the
# scripts). Validation on 50k reals: FID on RGB and on depth (Inception weights needed), RotEval, D's depth-bin
# head, and the generated-depth error when a depth-estimator file is given (off with a note otherwise).
dataset_type = 'RGBDDataset'
data_root = 'data/lsun_bedroom_rgbd'
resolution = 256
pipeline = [
    dict(type='LoadGANImage', color_type='color'),
    dict(type='LoadRGBDDepth'),
    dict(type='RGBDResizeCrop', resolution=resolution),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=3, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, depth_encoding='depthgan', pipeline=pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=3, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, depth_encoding='depthgan', indices=50000, pipeline=pipeline,
                 test_mode=True))
test_dataloader = val_dataloader
real_stats_name = 'lsun-bedroom-rgbd-256-50k'
val_evaluator = [
    dict(type='FrechetInceptionDistance', real_stats_name=real_stats_name),
    dict(type='FrechetInceptionDistance', real_stats_name=real_stats_name, fake_key='fake_depth_img',
         real_key='real_depth_img', key_suffix='_depth'),
    dict(type='RotEval'),
    dict(type='DepthBinAccuracy'),
    # GeneratedDepthEval: the estimator that made the data, run on the fakes (e.g. estimator=dict(model='leres.onnx'))
    dict(type='GeneratedDepthError', estimator=None),
]
test_evaluator = val_evaluator
