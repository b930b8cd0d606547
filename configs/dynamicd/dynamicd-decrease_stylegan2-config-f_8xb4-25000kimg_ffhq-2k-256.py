# DynamicD, limited data (official README): the discriminator width shrinks linearly from 1.0 to 0.5 over the
# 25M training images, a random subset of units per forward (growing structured dropout), and the first 9 layers
# (fromrgb and the 256/128 px blocks, most of the 64 px one) always at full width. FFHQ-2k: the first 2000 FFHQ
# images for training; FID against the first 50k FFHQ images as in the base config.
_base_ = ['../stylegan2/stylegan2_config-f_8xb4-25000kimg_ffhq-256.py']
model = dict(dynamic_d=dict(start_ratio=1.0, end_ratio=0.5, total_img=25_000_000, random_select=True,
                            keep_layers=9))
train_dataloader = dict(dataset=dict(indices=2000))
