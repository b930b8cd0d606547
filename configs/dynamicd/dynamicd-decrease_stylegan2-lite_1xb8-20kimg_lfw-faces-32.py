# CPU demo, limited data (100 faces): decreasing width 1.0 -> 0.5 over the 20k training images with random unit
# selection. keep_layers=4 keeps fromrgb and the 32 px block at full width, the counterpart at 32 px (3 blocks)
# of keepd=9 at 256 px (6 blocks: fromrgb, the 256/128 px blocks and most of the 64 px one).
_base_ = ['../stylegan2/stylegan2_lite_1xb8-20kimg_lfw-faces-32.py']
model = dict(dynamic_d=dict(start_ratio=1.0, end_ratio=0.5, total_img=20_000, random_select=True, keep_layers=4))
