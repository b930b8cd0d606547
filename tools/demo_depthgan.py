"""``make demo-depthgan``: DepthGAN beside an RGB-only StyleGAN2 of the same size and budget, on 2 CPU cores.

1. writes ``--images`` offline rooms (``gen3d.datasets.rooms_synthesis``: ray-cast indoor scenes, 32 px, with true
   planar depth);
2. trains the CPU DepthGAN config (depth path, appearance path, switchable D, rotation and depth-bin losses) and
   the StyleGAN2 config of its appearance path's size on the RGB alone, side by side, one process and one thread
   each, ``--iters`` iterations of 8 images, validating ``--evals`` times;
3. prints the last validation of both: the FID-proxy on RGB (both), on depth, RotEval and the depth-bin accuracy of
   D's head (DepthGAN), with RotEval of real room pairs as its references: one room with the camera orbiting the
   scene's centre (the motion the warp assumes: the floor of a consistent scene), turning in place (the rooms' own
   yaw), and two different rooms (no consistency);
4. writes ``compare_rooms.png`` (real | DepthGAN RGB and depth | StyleGAN2, 8 seeds), DepthGAN's yaw sweep and
   ``results.json``.

Image metric: FID with the Inception weights, otherwise the offline Lite0 features (``fd_lite0``, NOT FID); 200
fakes vs 200 reals: compare within this demo only.
"""

import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="DepthGAN vs an RGB StyleGAN2 on the offline rooms (32 px, CPU)")
    parser.add_argument("--work-dir", default="work_dirs/demo_depthgan")
    parser.add_argument("--iters", type=int, default=800, help="training iterations per run (batch 8)")
    parser.add_argument("--evals", type=int, default=2, help="validations per run")
    parser.add_argument("--images", type=int, default=1000, help="rooms in the offline set")
    parser.add_argument("--pairs", type=int, default=200, help="real room pairs of the RotEval reference")
    parser.add_argument("--sweep-frames", type=int, default=24, help="views in each yaw-sweep GIF")
    parser.add_argument("--seed", type=int, help="randomness.seed of both runs (default: the configs', 0)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from gen3d.demos.depthgan_demo import (
        DEPTHGAN_RUNS,
        REFERENCES,
        build_rooms_demo,
        format_table,
        last_validation,
        room_pair_roteval,
        write_pictures,
    )
    from gen3d.demos.gan3d_demo import train_parallel
    from gen3d.utils.checkpoint import atomic_write_bytes

    start = time.time()
    data = build_rooms_demo(osp.join(args.work_dir, "data", "rooms-32"), num=args.images)
    print(f"[demo-depthgan] data {data}; training {len(DEPTHGAN_RUNS)} runs side by side, {args.iters} iterations "
          f"of 8 images each")
    trained = train_parallel(DEPTHGAN_RUNS, args.work_dir, str(data), args.iters, args.evals, seed=args.seed)
    scores = {name: last_validation(res) for name, res in trained.items()}
    references = {label: room_pair_roteval(args.pairs, mode=mode) for label, mode in REFERENCES.items()}
    pictures = write_pictures(trained, args.work_dir, frames=args.sweep_frames)
    print(f"\nLast validation after {args.iters} iterations ({args.iters * 8 / 1000:g} kimg) per run; RotEval "
          f"(lower is more 3D-consistent) of {args.pairs} real room pairs under the same warp below:\n")
    print(format_table(scores, references))
    out = osp.join(args.work_dir, "results.json")
    atomic_write_bytes(json.dumps({"runs": scores, "references": references, "pictures": pictures,
                                   "train_s": {n: r["train_s"] for n, r in trained.items()}, "iters": args.iters,
                                   "images": args.images, "seed": args.seed}, indent=2).encode(), out)
    print(f"\n[demo-depthgan] pictures {', '.join(pictures)}")
    print(f"[demo-depthgan] {time.time() - start:.0f} s in all; results {out}")


if __name__ == "__main__":
    main()
