"""Locality of ReSeFa directions against SeFa and random ones, run by ``tools/benchmark.py resefa-locality``."""

from __future__ import annotations

import argparse
import os.path as osp
import re
from typing import Any

import torch
from torch import nn

from gen3d.apis.editing import locality_table
from gen3d.utils.repo_paths import repo_file

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


def benchmark_region(args: argparse.Namespace, size: int) -> tuple[Any, str]:
    """The region of ``tools/benchmark.py resefa-locality`` at the ``size`` Jacobian resolution, and its description.

    ``--region``: absent, the :func:`centre_box`; else as ``tools/editing/compute_directions.py``: a box
    ``cr,cc,h,w`` in the official 256-px frame (scaled), a box name or a mask file; with ``--region-labels`` (and
    ``--class-names``) a label map of which those labels are the region.
    """
    from gen3d.apis.editing import resolve_label_region, resolve_region

    region, labels = getattr(args, "region", None), getattr(args, "region_labels", None)
    names = getattr(args, "class_names", None)
    if region is None:
        if labels is not None or names is not None:
            raise ValueError("--region-labels / --class-names: need --region, the label-map file")
        box = centre_box(size)
        return box, f"centred box {list(box)} at {size} px"
    if labels is not None:
        _, mask, meta = resolve_label_region(region, labels, size, names)
        named = "" if names is None else f" ({', '.join(str(n) for n in meta['region_label_names'])})"
        return mask, f"label map {region} labels {meta['region_labels']}{named}: {int(mask.sum())} px at {size} px"
    if names is not None:
        raise ValueError("--class-names: only used with --region-labels")
    if isinstance(region, str) and re.fullmatch(r"\s*-?\d+\s*(,\s*-?\d+\s*){3}", region):
        region = [int(v) for v in region.split(",")]
    stored, mask = resolve_region(region, size)
    what = (f"box {region} at 256 px -> {stored} at {size} px" if isinstance(region, list) else
            f"{'box' if isinstance(stored, str) else 'mask'} {region}")
    return mask, f"{what}: {int(mask.sum())} px at {size} px"


def editing_task(args: argparse.Namespace, device: torch.device) -> tuple[list[dict], str]:
    """``tools/benchmark.py resefa-locality``: :func:`~gen3d.apis.editing.locality_table` on one region.

    ``--checkpoint``: that checkpoint's EMA generator (refused without a ``w`` space); otherwise an untrained
    :func:`lite_generator` at ``--resolution`` (first value; default 32). ``--rounds``: random directions. The
    region: :func:`benchmark_region` (default a centred box).

    Returns:
        The rows and the printed title.
    """
    if args.checkpoint:
        from gen3d.apis.gan_inference import load_generator
        from gen3d.models.editing.resefa import require_w_generator

        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(f"--checkpoint {args.checkpoint} does not exist")
        gen = require_w_generator(load_generator(args.checkpoint, device=str(device)), f"checkpoint {args.checkpoint}")
        what = args.checkpoint
    else:
        sides = getattr(args, "resolution", None) or [32]
        res = int(sides if isinstance(sides, int) else sides[0])
        gen = lite_generator(res).to(device)
        what = (f"UNTRAINED lite StyleGAN2 ({osp.basename(LITE_CONFIG)}, {res} px, torch seed 0): the ratios say "
                "nothing of a trained generator")
    size = min(gen.synthesis.resolution, 256)
    region, where = benchmark_region(args, size)
    rows = locality_table(gen, region, num_random=args.rounds)
    return rows, (f"Locality (mean |dx| in region / outside, alpha 1, all layers, 8 held-out latents) of the top "
                  f"ReSeFa and SeFa directions vs {args.rounds} random ones, same generator and region: {where}\n"
                  f"{what}")
