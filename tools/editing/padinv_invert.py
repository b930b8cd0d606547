"""Invert images with a PadInv encoder: ``python tools/editing/padinv_invert.py CKPT IMAGES... --out-dir DIR``.

PadInv (Bai et al., ECCV'22, arXiv 2203.11105): the encoder maps each image to W+ codes and the padding maps of the
frozen StyleGAN2. Writes per image ``<name>.npz`` (``wplus`` ``(num_ws, w_dim)``, ``padding_<key>`` ``(C, S, S)``
and ``meta``: the checkpoint's sha256, the image's name and sizes) and ``<name>_recon.png``, the reconstruction.
IMAGES are files or folders (their PNG / JPEG / BMP / WebP files, not recursive). Images must be the model's
``image_size`` square with its channel count: others are refused unless ``--resize`` (centre crop + resize) /
``--convert`` (grey <-> RGB). The ``.npz`` files feed ``padinv_blend.py`` and ``padinv_edit.py``.

Example::

    python tools/editing/padinv_invert.py work_dirs/padinv/iter_2000.pth data/faces/holdout --out-dir work_dirs/inv
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="W+ codes and padding maps of images (PadInv encoder)")
    parser.add_argument("checkpoint", help="a PadInv checkpoint of tools/train.py")
    parser.add_argument("images", nargs="+", help="image files and / or folders of images")
    parser.add_argument("--out-dir", default="work_dirs/padinv_invert", help="where the .npz / PNG files go")
    parser.add_argument("--resize", action="store_true", help="centre-crop and resize images of another size")
    parser.add_argument("--convert", action="store_true", help="convert grey <-> RGB (alpha dropped)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[str]:
    args = parse_args(argv)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from gen3d.apis.padinv import invert, resolve_sources

    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        paths = resolve_sources(args.images, "images")
        if paths[0].endswith(".npz"):
            raise ValueError("images: .npz files are already inverted; give images or folders")
        result = invert(args.checkpoint, paths, args.out_dir, resize=args.resize, convert=args.convert,
                        batch_size=args.batch_size, device=args.device, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    maps = "W+ only" if result.padding is None else f"padding maps {sorted(map(str, result.padding))}"
    print(f"{len(result.names)} images -> W+ {tuple(result.wplus.shape[1:])} + {maps}; "
          f".npz and _recon.png files in {args.out_dir}")
    return result.files


if __name__ == "__main__":
    main()
