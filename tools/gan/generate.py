"""Sample a trained GAN: ``python tools/gan/generate.py CHECKPOINT --out-dir DIR [options]``.

Writes ``grid.png`` (one image per seed, tiled), ``seed_<s>.png`` per seed with ``--per-image``, and with
``--interpolate`` an animation through the seeds' latents (``interp_<z|w>.gif`` / ``.mp4``): slerp in z, or lerp in
w after the mapping network (StyleGAN's smoother path). ``--truncation`` < 1 trades variety for fidelity
(``w = w_avg + psi * (w - w_avg)``); conditional generators need ``--class-idx``. Noise is constant, so a seed
always gives the same image. 3D-aware generators (pi-GAN, DepthGAN; :mod:`gen3d.apis.gan_3d`) render each seed at
its seeded pose, and add ``--geometry`` (``geometry.png``: RGB | depth | normals per seed; DepthGAN: RGB | depth),
``--sweep yaw|pitch|both`` (a camera loop of the first seed, ``--frames``, ``--yaw-range LO HI`` radians; DepthGAN:
yaw only, RGB | depth) and ``--mesh R`` (marching cubes of the first seed's density on an R^3 grid at
``--mesh-threshold`` -> ``mesh_<seed>.ply``; pi-GAN only); generators refuse the flags they cannot honour.
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gen3d.runtime.generation import parse_seeds  # one seed-list syntax for checkpoints and bundles

    parser = argparse.ArgumentParser(description="Sample image grids and latent interpolations from a GAN checkpoint")
    parser.add_argument("checkpoint", help="checkpoint (.pth) written by tools/train.py")
    parser.add_argument("--out-dir", default="work_dirs/generate", help="where the PNG / GIF / MP4 files go")
    parser.add_argument("--config", help="config file (default: the one saved in the checkpoint)")
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-15"), help="e.g. 0-15 or 1,4,9")
    parser.add_argument("--truncation", type=float, default=1.0, help="truncation psi (1 = none)")
    parser.add_argument("--class-idx", type=int, help="class of a conditional generator")
    parser.add_argument("--nrow", type=int, help="grid images per row (default: square)")
    parser.add_argument("--per-image", action="store_true", help="also write one PNG per seed")
    parser.add_argument("--interpolate", choices=("z", "w"), help="also write an interpolation through the seeds")
    parser.add_argument("--steps", type=int, default=24, help="interpolation frames between two seeds")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--video-format", choices=("gif", "mp4"), default="gif")
    parser.add_argument("--scale", type=int, default=1, help="nearest up-scaling of the written images")
    parser.add_argument("--raw", action="store_true", help="sample the raw generator instead of the EMA one")
    g3 = parser.add_argument_group("3D-aware generators")
    g3.add_argument("--geometry", action="store_true", help="write depth and normal maps beside RGB")
    g3.add_argument("--sweep", choices=("yaw", "pitch", "both"), help="camera sweep of the first seed")
    g3.add_argument("--frames", type=int, default=36, help="frames of the sweep")
    g3.add_argument("--yaw-range", type=float, nargs=2, metavar=("LO", "HI"), help="radians (default: mean +- 2 std)")
    g3.add_argument("--pitch-range", type=float, nargs=2, metavar=("LO", "HI"), help="radians")
    g3.add_argument("--mesh", type=int, metavar="R", help="marching cubes of the first seed on an R^3 density grid")
    g3.add_argument("--mesh-threshold", type=float, default=10.0, help="density level of the mesh surface")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import numpy as np

    from gen3d.apis.gan_inference import (
        class_onehot,
        generate,
        interpolation_frames,
        load_generator,
        make_grid,
        save_image,
        seed_latents,
        seed_poses,
        write_animation,
    )

    try:
        gen = load_generator(args.checkpoint, args.config, args.device, ema=not args.raw)
        c = class_onehot(gen.c_dim, args.class_idx, len(args.seeds))
        if args.geometry or args.sweep or args.mesh:
            from gen3d.apis.gan_3d import check_3d_flags

            check_3d_flags(gen, args.geometry, args.sweep, args.mesh, args.pitch_range)
        if args.interpolate == "w" and not hasattr(gen, "synthesis"):
            raise ValueError(f"--interpolate w needs a StyleGAN-style mapping / synthesis; {type(gen).__name__} has "
                             "none (use --interpolate z)")
    except (FileNotFoundError, TypeError, ValueError) as err:
        sys.exit(f"error: {err}")
    os.makedirs(args.out_dir, exist_ok=True)
    z, pose = seed_latents(args.seeds, gen.z_dim), seed_poses(gen, args.seeds)  # poses: 3D-aware generators only
    images = generate(gen, z, c, args.truncation, progress=len(z) > 64, pose=pose)

    def up(img: np.ndarray) -> np.ndarray:
        return img.repeat(args.scale, 0).repeat(args.scale, 1)

    grid_path = save_image(up(make_grid(images, args.nrow)), osp.join(args.out_dir, "grid.png"))
    print(f"{len(images)} images ({images.shape[1]}x{images.shape[2]}x{images.shape[3]}, psi {args.truncation}) "
          f"-> {grid_path}")
    if args.per_image:
        for seed, img in zip(args.seeds, images):
            save_image(up(img.numpy().transpose(1, 2, 0)), osp.join(args.out_dir, f"seed_{seed:04d}.png"))
        print(f"per-seed images -> {args.out_dir}/seed_*.png")
    if args.geometry or args.sweep or args.mesh:
        from gen3d.apis.gan_3d import write_3d_outputs

        try:
            print("\n".join(write_3d_outputs(
                gen, z, pose, args.out_dir, args.seeds, args.truncation, args.sweep, args.frames, args.yaw_range,
                args.pitch_range, args.geometry, args.mesh, args.mesh_threshold, args.fps, args.video_format,
                args.scale)))
        except ValueError as err:
            sys.exit(f"error: {err}")
    if args.interpolate:
        frames = interpolation_frames(gen, z, args.steps, args.interpolate, None if c is None else c[:1],
                                      args.truncation, loop=len(z) > 1, progress=True, pose=pose)
        path = osp.join(args.out_dir, f"interp_{args.interpolate}.{args.video_format}")
        write_animation(frames, path, args.fps, args.scale)
        print(f"{len(frames)} interpolation frames ({args.interpolate} space) -> {path}")


if __name__ == "__main__":
    main()
