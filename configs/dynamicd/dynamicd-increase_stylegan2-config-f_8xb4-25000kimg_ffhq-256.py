# DynamicD, sufficient data (official README): the discriminator width grows linearly from 0.5 to 1.0 over the
# 25M training images, first channels kept (no random selection), every layer dynamic.
_base_ = ['../stylegan2/stylegan2_config-f_8xb4-25000kimg_ffhq-256.py']
model = dict(dynamic_d=dict(start_ratio=0.5, end_ratio=1.0, total_img=25_000_000, random_select=False,
                            keep_layers=0))
