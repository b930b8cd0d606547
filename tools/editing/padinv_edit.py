"""PadInv customised editing from one image pair: ``python tools/editing/padinv_edit.py CKPT --source S.png ...``.

Usage: ``padinv_edit.py CKPT --source S.png --edited E.png --targets T... --out-dir DIR``.

PadInv (Bai et al., ECCV'22, arXiv 2203.11105, Sec. 4, Fig. 1 (c)): an image and a hand-edited copy of it (e.g.
Photoshop, copy-and-paste) define the edit; both are inverted, and ``--strength`` times the difference of their
W+ codes is added to each target's W+ while the target keeps its own padding maps (``--transfer wplus``, default;
``both`` also adds the padding difference, ``padding`` only that). The official repository ships no code for
this application: the default is our reading of the paper (see ``gen3d/apis/padinv.py``). Sources are images,
folders, or the ``.npz`` files of ``padinv_invert.py``. Writes ``<target>_edited.png`` per target and
``edit_grid.png`` (one row per target: its reconstruction, the edited image).

Example::

    python tools/editing/padinv_edit.py work_dirs/padinv/iter_2000.pth --source me.png --edited me_glasses.png \
        --targets data/faces/holdout --out-dir work_dirs/glasses
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gen3d.apis.padinv import TRANSFERS

    parser = argparse.ArgumentParser(description="Transfer the edit of one image pair to other images (PadInv)")
    parser.add_argument("checkpoint", help="a PadInv checkpoint of tools/train.py")
    parser.add_argument("--source", required=True, help="the unedited image (or its .npz)")
    parser.add_argument("--edited", required=True, help="the edited copy (or its .npz)")
    parser.add_argument("--targets", nargs="+", required=True, help="images / folders / .npz to edit")
    parser.add_argument("--out-dir", default="work_dirs/padinv_edit", help="where the PNG files go")
    parser.add_argument("--strength", type=float, default=1.0, help="factor of the pair's difference")
    parser.add_argument("--transfer", choices=TRANSFERS, default="wplus", help="what difference is transferred")
    parser.add_argument("--resize", action="store_true", help="centre-crop and resize images of another size")
    parser.add_argument("--convert", action="store_true", help="convert grey <-> RGB (alpha dropped)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[str]:
    args = parse_args(argv)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from gen3d.apis.padinv import customised_edit, resolve_sources

    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        out = customised_edit(args.checkpoint, (args.source, args.edited), resolve_sources(args.targets, "targets"),
                              args.out_dir, args.strength, args.transfer, resize=args.resize, convert=args.convert,
                              batch_size=args.batch_size, device=args.device, progress=True)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    delta = float(out["delta_wplus"].norm())
    print(f"{len(out['names'])} targets edited (transfer {args.transfer}, strength {args.strength}, "
          f"|W+ difference| {delta:.4f}) -> {args.out_dir}")
    return out["files"]


if __name__ == "__main__":
    main()
