"""Edit sweeps along a direction: ``python tools/editing/manipulate.py CKPT DIRECTIONS.npz --out-dir DIR``.

Writes ``grid_dir<K>.png`` (rows: ``--seeds``, columns: ``--steps`` strengths from ``--start`` to ``--end``, official
-10..10 in 7 steps) and ``seed_<s>_dir<K>.gif`` per seed (the strength swept there and back). The direction is row
``--index`` of the file of ``tools/editing/compute_directions.py``; it moves ``--layers`` (official 4,5,6,7, clipped
to the generator's layers) of ``w`` truncated by ``--truncation`` on the first ``--trunc-layers`` layers (0.7, 8).
When the directions have a region, its outline is drawn in red on the strength-0 column of the grid. A file computed
for another checkpoint is refused (sha256).

Example::

    python tools/editing/manipulate.py work_dirs/gan/iter_20000.pth eyes.npz --out-dir work_dirs/eyes --scale 4
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gen3d.runtime.generation import parse_seeds  # "4,5,6", "0-3", "0-3,9"

    parser = argparse.ArgumentParser(description="Image grids and GIFs of an edit along a SeFa / ReSeFa direction")
    parser.add_argument("checkpoint", help="the GAN checkpoint the directions were computed for")
    parser.add_argument("directions", help=".npz written by tools/editing/compute_directions.py")
    parser.add_argument("--out-dir", default="work_dirs/manipulate", help="where the PNG / GIF files go")
    parser.add_argument("--index", type=int, default=0, help="direction (row of the file)")
    parser.add_argument("--layers", type=parse_seeds, default=[4, 5, 6, 7], help="edited layers, e.g. 4,5,6,7 or 0-3")
    parser.add_argument("--start", type=float, default=-10.0, help="first strength")
    parser.add_argument("--end", type=float, default=10.0, help="last strength")
    parser.add_argument("--steps", type=int, default=7, help="strengths")
    parser.add_argument("--truncation", type=float, default=0.7, help="truncation psi")
    parser.add_argument("--trunc-layers", type=int, default=8, help="layers truncated")
    parser.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2], help="one grid row per seed, e.g. 0-3")
    parser.add_argument("--fps", type=int, default=4)
    parser.add_argument("--scale", type=int, default=1, help="nearest up-scaling of the written images")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[str]:
    args = parse_args(argv)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from gen3d.apis.editing import manipulate

    try:
        paths = manipulate(args.checkpoint, args.directions, args.out_dir, args.index, args.layers, args.start,
                           args.end, args.steps, args.truncation, args.trunc_layers, args.seeds, args.fps, args.scale,
                           args.device)
    except (FileNotFoundError, TypeError, ValueError) as err:
        sys.exit(f"error: {err}")
    print(f"grid ({len(args.seeds)} seeds x {args.steps} strengths) -> {paths[0]}")
    print(f"{len(paths) - 1} GIFs -> {args.out_dir}/seed_*_dir{args.index:03d}.gif")
    return paths


if __name__ == "__main__":
    main()
