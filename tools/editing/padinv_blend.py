"""PadInv face blending: ``python tools/editing/padinv_blend.py CKPT --padding A.png --wplus B.png --out-dir DIR``.

PadInv (Bai et al., ECCV'22, arXiv 2203.11105, Sec. 4, Fig. 1 (b)): the padding maps (and the constant-input map)
of one image carry its contour / spatial layout, the W+ codes of another its facial details; the frozen generator
renders every (``--padding`` source, ``--wplus`` source) pair. Sources are images, folders of images, or the
``.npz`` files of ``padinv_invert.py`` (refused when inverted with another checkpoint). Writes
``blend_<padding>__<wplus>.png`` per pair and ``blend_grid.png`` (one row per padding source: its reconstruction,
then its maps with each W+ source). Needs an encoder with the padding head (not a W+-only one).

Example::

    python tools/editing/padinv_blend.py work_dirs/padinv/iter_2000.pth --padding a.png b.png --wplus c.png \
        --out-dir work_dirs/blend
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Padding maps of one image with the W+ codes of another (PadInv)")
    parser.add_argument("checkpoint", help="a PadInv checkpoint (with the padding head)")
    parser.add_argument("--padding", nargs="+", required=True, help="images / folders / .npz giving the padding maps")
    parser.add_argument("--wplus", nargs="+", required=True, help="images / folders / .npz giving the W+ codes")
    parser.add_argument("--out-dir", default="work_dirs/padinv_blend", help="where the PNG files go")
    parser.add_argument("--resize", action="store_true", help="centre-crop and resize images of another size")
    parser.add_argument("--convert", action="store_true", help="convert grey <-> RGB (alpha dropped)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[str]:
    args = parse_args(argv)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from gen3d.apis.padinv import blend, resolve_sources

    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        out = blend(args.checkpoint, resolve_sources(args.padding, "image_padding"),
                    resolve_sources(args.wplus, "image_wplus"), args.out_dir, resize=args.resize,
                    convert=args.convert, batch_size=args.batch_size, device=args.device, progress=True)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    n_p, n_w = len(out["padding_names"]), len(out["wplus_names"])
    print(f"{n_p} padding x {n_w} W+ sources -> {n_p * n_w} blends and the grid {out['files'][-1]}")
    return out["files"]


if __name__ == "__main__":
    main()
