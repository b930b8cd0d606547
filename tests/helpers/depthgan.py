"""A tiny DepthGAN checkpoint (16 px, 16 + 24 latents, widths <= 16, random weights) for the generate / deploy /
runtime tests, saved as ``tools/train.py`` saves a ``DepthGAN`` (``state_dict`` + ``meta.cfg``)."""

from pathlib import Path

import torch
from mmengine.config import Config

from gen3d.registry import MODELS

TINY_DEPTHGAN_CFG = """
default_scope = "gen3d"
model = dict(
    type="DepthGAN",
    generator=dict(type="DepthGANGenerator", resolution=16, z_dim_depth=16, z_dim_rgb=24, w_dim=16, mapping_layers=2,
                   channel_base=256, channel_max=16, yaw_range=(-0.3, 0.3)),
    discriminator=dict(type="DepthGANDiscriminator", resolution=16, channel_base=256, channel_max=16,
                       mbstd_group_size=2, depth_head_resolutions=(16, 8)),
)
"""
Z_DIM_DEPTH, Z_DIM_RGB = 16, 24  # unequal, so a swapped pair of latent inputs cannot pass
YAW_RANGE = (-0.3, 0.3)
RGB_GAIN = 40.0


def make_tiny_depthgan_checkpoint(path: Path, seed: int = 0) -> Path:
    """Build the tiny model of :data:`TINY_DEPTHGAN_CFG`, perturb both paths' ``w_avg`` (so truncation matters), scale
    the appearance path's toRGB weights by :data:`RGB_GAIN` (at initialisation its image is within a grey level of
    flat, which no test could read), copy the generator into ``generator_ema`` and save it like ``tools/train.py``."""
    import gen3d.models  # noqa: F401 - registers the GAN modules

    cfg = Config.fromstring(TINY_DEPTHGAN_CFG, file_format=".py")
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model.to_dict())
    with torch.no_grad():
        for path_gen in (model.generator.depth, model.generator.rgb):
            path_gen.mapping.w_avg.copy_(torch.randn_like(path_gen.mapping.w_avg))
        for name, param in model.generator.rgb.synthesis.named_parameters():
            if name.endswith("torgb.weight"):
                param.mul_(RGB_GAIN)
    model.generator_ema.load_state_dict(model.generator.state_dict())
    torch.save({"state_dict": model.state_dict(), "meta": {"cfg": cfg.pretty_text, "model_type": "DepthGAN"}}, path)
    return path
