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


GEOD_PIGAN_DIST_CFG = """
_base_ = ['{repo}/tests/data/configs/geod_pigan_tiny.py']
model = dict(curriculum=[dict(start_iter=0, resolution=8, batch_size=2, num_steps=4, fade_steps=2),
                         dict(start_iter=3, resolution=16, batch_size=2, num_steps=4, lr_g=1e-4, lr_d=4e-4,
                              fade_steps=2)])
train_cfg = dict(max_iters=4)
default_hooks = dict(checkpoint=dict(interval=2))
"""


def write_geod_pigan_dist_config(path: Path, repo: Path) -> Path:
    """Write a tiny pi-GAN + GeoD (DatasetGeometry) config for 2-rank runs: ``geod_pigan_tiny.py`` for 4 iterations
    of 2 images per rank, growing 8 -> 16 px at iteration 3, checkpoints every 2 (the stage change comes after the
    mid checkpoint, so a resumed run crosses it)."""
    path.write_text(GEOD_PIGAN_DIST_CFG.format(repo=repo))
    return path
