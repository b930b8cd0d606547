"""Locality of ReSeFa directions against SeFa and random ones, run by ``tools/benchmark.py resefa-locality``."""

from __future__ import annotations

import argparse
import os.path as osp

import torch
from torch import nn

from gen3d.apis.editing import locality_table
from gen3d.apis.repo_paths import repo_file

LITE_CONFIG = repo_file("configs/_base_/models/stylegan2_lite-32.py")
"""The 32-px lite StyleGAN2 built (untrained) when no ``--checkpoint`` is given."""
EDITING_COLUMNS = ("direction", "locality", "std", "x random")
"""Printed columns of ``tools/benchmark.py resefa-locality``."""


def lite_generator(resolution: int = 32, seed: int = 0) -> nn.Module:
    """A freshly initialised generator of :data:`LITE_CONFIG` at ``resolution`` (seeded, eval mode)."""
    from mmengine.config import Config

    import gen3d.models  # noqa: F401 - registers the GAN modules
    from gen3d.registry import MODELS

    cfg = Config.fromfile(LITE_CONFIG).model.generator.to_dict()
    cfg["resolution"] = resolution
    torch.manual_seed(seed)
    return MODELS.build(cfg).eval()


def centre_box(resolution: int) -> tuple[int, int, int, int]:
    """``[cr, cc, h, w]``: a centred square a quarter of the image side wide (at least 1 px)."""
    side = max(1, resolution // 4)
    return resolution // 2, resolution // 2, side, side


def editing_task(args: argparse.Namespace, device: torch.device) -> tuple[list[dict], str]:
    """``tools/benchmark.py resefa-locality``: :func:`~gen3d.apis.editing.locality_table` on a centred box.

    ``--checkpoint``: that checkpoint's EMA generator; otherwise an untrained :func:`lite_generator` at
    ``--resolution`` (first value; default 32). ``--rounds``: random directions.

    Returns:
        The rows and the printed title.
    """
    if args.checkpoint:
        from gen3d.apis.gan_inference import load_generator

        gen, what = load_generator(args.checkpoint, device=str(device)), args.checkpoint
    else:
        sides = getattr(args, "resolution", None) or [32]
        res = int(sides if isinstance(sides, int) else sides[0])
        gen = lite_generator(res).to(device)
        what = (f"UNTRAINED lite StyleGAN2 ({osp.basename(LITE_CONFIG)}, {res} px, torch seed 0): the ratios say "
                "nothing of a trained generator")
    size = min(gen.synthesis.resolution, 256)
    box = centre_box(size)
    rows = locality_table(gen, box, num_random=args.rounds)
    return rows, (f"Locality (mean |dx| in region / outside, alpha 1, all layers, 8 held-out latents) of the top "
                  f"ReSeFa and SeFa directions vs {args.rounds} random ones, centred box {list(box)} at {size} px\n"
                  f"{what}")
