"""A tiny StyleGAN2 checkpoint (16 px, widths <= 16, random weights) for tools and deploy tests."""

from pathlib import Path

import torch
from mmengine.config import Config

TINY_GAN_CFG = """
default_scope = "gen3d"
model = dict(
    type="StyleGAN2",
    generator=dict(type="StyleGAN2Generator", resolution=16, z_dim=16, w_dim=16, c_dim={c_dim}, mapping_layers=2,
                   channel_base=128, channel_max=16, img_channels={channels}),
    discriminator=dict(type="StyleGAN2Discriminator", resolution=16, img_channels={channels}, c_dim={c_dim},
                       channel_base=128, channel_max=16),
)
"""


def make_tiny_gan_checkpoint(path: Path, c_dim: int = 0, channels: int = 3, seed: int = 0) -> Path:
    """Build the tiny StyleGAN2 of :data:`TINY_GAN_CFG`, perturb ``w_avg`` (so truncation matters) and save it
    like ``tools/train.py`` does (``state_dict`` + ``meta.cfg``)."""
    import gen3d.models  # noqa: F401 - registers the GAN modules
    from gen3d.registry import MODELS

    cfg = Config.fromstring(TINY_GAN_CFG.format(c_dim=c_dim, channels=channels), file_format=".py")
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model.to_dict())
    with torch.no_grad():
        for gen in (model.generator, model.generator_ema):
            gen.mapping.w_avg.copy_(torch.randn_like(gen.mapping.w_avg))
    meta = {"cfg": cfg.pretty_text, "model_type": "StyleGAN2"}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    return path
