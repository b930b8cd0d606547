# PadInv (arXiv 2203.11105) on the 32-px grey faces StyleGAN2 (configs/stylegan2/stylegan2_lite_1xb8-20kimg_lfw-
# faces-32.py), for CPU: the 'light' IR-SE backbone (widths 32/64/128, stages at 16/8/4 px of the 32-px input, no
# resize: the encoder sees the image at the generator's resolution), FPN width 64 (= the generator's 4-px
# channels, so the const map is the extractor's output as in the official code), Map2Style heads [3, 4, 1] for
# the 8 ws, padding head on the finest (16-px) FPN level (official: the 32-px level of a 256-px input) resized
# bicubically to 34 px, maps for the const input and conv layers 0/2/4/6 (4-32 px). Loss weights are the
# official ones; LPIPS and ArcFace are off (with a warning) until their weights files are set.
# generator_ckpt is required: --cfg-options model.generator_ckpt=work_dirs/<stylegan2 run>/iter_N.pth
model = dict(
    type='PadInv',
    generator_ckpt=None,
    use_padding=True, pad_layer_num=4, encode_const=True, noise_mode='const',
    encoder=dict(backbone='light', backbone_cfg=dict(widths=(32, 64, 128), blocks_per_stage=1), fpn_channels=64,
                 start_from_latent_avg=True, padding_level=2, padding_blocks=2),
    loss=dict(mse_weight=1.0, lpips_weight=0.8, lpips_weights=None, id_weight=0.1, arcface_weights=None,
              wnorm_weight=0.003, adv_weight=0.0),
    data_preprocessor=dict(type='GANDataPreprocessor'),
)
