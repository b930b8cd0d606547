# CPU demo counterpart of the sufficient-data schedule: width 0.5 -> 1.0 over the 20k training images, first
# channels, every layer dynamic (on 100 faces this is the setting the paper does NOT recommend; kept to compare).
_base_ = ['../stylegan2/stylegan2_lite_1xb8-20kimg_lfw-faces-32.py']
model = dict(dynamic_d=dict(start_ratio=0.5, end_ratio=1.0, total_img=20_000, random_select=False, keep_layers=0))
