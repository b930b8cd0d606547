# PadInv (arXiv 2203.11105; official EzioBy/padinv@49304d6 configs/padinv_encoder_config.py and
# scripts/encoder_scipts/encoder_stylegan2_ffhq_train.sh): IResNet-50 with SE, FPN 512, Map2Style heads [3, 4, 11]
# for 18 ws (1024-px G), start_from_latent_avg, padding head = 2 IR-SE bottlenecks on the 32-px FPN level
# (feature_idx=1 of a 256-px input), bicubic to 34 px, const map + 1x1 modulation heads for conv layers 0/2/4/6.
# Encoder input 256 px; the generator's output is average-pooled to 256 for the losses (image_size=256).
# Loss: MSE 1.0 + LPIPS-alex 0.8 + ID 0.1 (faces) + 0.003 ||W+ - w_avg||; LPIPS / ArcFace need weights files.
model = dict(
    type='PadInv',
    generator_ckpt=None,  # required: a StyleGAN2 checkpoint (e.g. converted official FFHQ-1024)
    use_padding=True, pad_layer_num=4, encode_const=True, noise_mode='const', image_size=256,
    encoder=dict(backbone='ir_se50', fpn_channels=512, num_latents_per_level=None, start_from_latent_avg=True,
                 padding_level=1, padding_blocks=2),
    loss=dict(mse_weight=1.0, lpips_weight=0.8, lpips_weights=None, id_weight=0.1, arcface_weights=None,
              wnorm_weight=0.003, adv_weight=0.0),
    data_preprocessor=dict(type='GANDataPreprocessor'),
)
