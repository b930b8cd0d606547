"""Editing directions of a StyleGAN2 checkpoint: ``python tools/editing/compute_directions.py CKPT --out FILE.npz``.

``--method resefa`` (default; Zhu et al., ICML'22) needs ``--region``: a box ``cr,cc,h,w`` in the official 256-px
frame (scaled to the generator), a box name (``eyes``, ``mouth``, ... of ``FFHQ_BOXES``) or a mask file (``.png``:
grey > 127, ``.npy``: non-zero); ``--num-samples`` latents of ``--seed`` (official 5 and 4), ``--full-rank`` adds the
official regulariser. ``--region-mask FILE`` is a mask file, or with ``--region-labels 3,5`` a label map (``.png`` of
class ids, ``.npy`` integer array) of which those labels are the region (names with ``--class-names`` ``.txt`` /
``.json``). ``--method sefa`` (Shen & Zhou, CVPR'21) is closed-form and takes no region. ``--layers 4,5``
restricts the layers (SeFa: factorised; ReSeFa: those the Jacobian flows through). The ``.npz`` holds the directions
(rows, by descending eigenvalue), the eigenvalues and JSON metadata with the checkpoint's sha256, which
``tools/editing/manipulate.py`` checks.

Example::

    python tools/editing/compute_directions.py work_dirs/gan/iter_20000.pth --region eyes --out eyes.npz
    python tools/editing/compute_directions.py G.pth --region-mask parts.png --region-labels 3,5 --out parts.npz
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_region(text: str) -> list[int] | str:
    """``'120,128,20,115'`` -> a box; anything else (a box name, a mask path) stays a string."""
    parts = text.split(",")
    if len(parts) == 4 and all(p.strip().lstrip("-").isdigit() for p in parts):
        return [int(p) for p in parts]
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gen3d.runtime.generation import parse_seeds  # "4,5,6", "0-3", "0-3,9"

    parser = argparse.ArgumentParser(description="Compute SeFa / ReSeFa editing directions of a StyleGAN2 checkpoint")
    parser.add_argument("checkpoint", help="GAN checkpoint (.pth) written by tools/train.py")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--method", choices=("resefa", "sefa"), default="resefa")
    parser.add_argument("--region", type=parse_region,
                        help="resefa: box cr,cc,h,w at 256 px, a box name or a .png/.npy mask")
    parser.add_argument("--region-mask", metavar="FILE", help="resefa: mask file, or label map with --region-labels")
    parser.add_argument("--region-labels", metavar="IDS", help="resefa: label ids / names of --region-mask, e.g. 3,5")
    parser.add_argument("--class-names", metavar="FILE", help="names of the label ids (.txt one a line, or .json)")
    parser.add_argument("--layers", type=parse_seeds, help="e.g. 4,5,6,7 or 0-3 (default: all)")
    parser.add_argument("--num-samples", type=int, default=5, help="resefa: latents averaged over")
    parser.add_argument("--seed", type=int, default=4, help="resefa: their seed")
    parser.add_argument("--full-rank", action="store_true", help="resefa: official M_B regulariser")
    parser.add_argument("--per-sample", action="store_true",
                        help="resefa: one file per latent, OUT_s<i>.npz (official), instead of their average")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    if args.region is not None and args.region_mask is not None:
        sys.exit("error: --region-mask: give either --region or --region-mask")
    if args.region_labels is not None and args.region_mask is None:
        sys.exit("error: --region-labels: needs --region-mask FILE, the label map the labels are in")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from gen3d.apis.editing import compute_directions

    region = args.region if args.region_mask is None else args.region_mask
    try:
        path = compute_directions(args.checkpoint, args.out, args.method, region, args.layers,
                                  args.num_samples, args.seed, args.full_rank, args.device, args.per_sample,
                                  region_labels=args.region_labels, class_names=args.class_names)
    except (FileNotFoundError, TypeError, ValueError) as err:
        sys.exit(f"error: {err}")
    print(f"{args.method} directions -> {path}")
    return path


if __name__ == "__main__":
    main()
