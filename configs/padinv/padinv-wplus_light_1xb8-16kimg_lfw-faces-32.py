# The baseline of the PadInv comparison: the same encoder, loss, data and schedule with W+ only (no padding head;
# pSp-style), on the 32-px grey faces StyleGAN2.
_base_ = ['./padinv_light_1xb8-16kimg_lfw-faces-32.py']
model = dict(use_padding=False)
