"""A tiny pi-GAN checkpoint (8 px, 6 + 6 samples, FiLM width 16, random weights) for the 3D generate / deploy /
runtime tests, saved as ``tools/train.py`` saves a ``PiGAN`` (``state_dict`` + ``meta.cfg``)."""

from pathlib import Path

import torch
from mmengine.config import Config

from gen3d.registry import MODELS

TINY_PIGAN_CFG = """
default_scope = "gen3d"
model = dict(
    type="PiGAN",
    generator=dict(type="PiGANGenerator", z_dim=16, hidden_dim=16, n_layers=2, img_resolution=8, num_steps=6,
                   mapping_hidden=16, avg_samples=64),
    discriminator=dict(type="PiGANDiscriminator", img_resolution=8, width=0.05, latent_dim=0),
)
"""


def make_tiny_pigan_checkpoint(path: Path, seed: int = 0) -> Path:
    """Build the tiny model of :data:`TINY_PIGAN_CFG` (random weights) and save it like ``tools/train.py``."""
    import gen3d.models  # noqa: F401 - registers the GAN modules

    cfg = Config.fromstring(TINY_PIGAN_CFG, file_format=".py")
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model.to_dict())
    model.generator_ema.load_state_dict(model.generator.state_dict())
    torch.save({"state_dict": model.state_dict(), "meta": {"cfg": cfg.pretty_text, "model_type": "PiGAN"}}, path)
    return path
