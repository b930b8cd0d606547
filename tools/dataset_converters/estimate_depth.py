"""Estimate DepthGAN's depth prior for a folder of RGB images (arXiv 2202.08553; the paper ran LeReS over LSUN).

Writes the official layout that ``RGBDDataset(data_root=OUT_ROOT, depth_encoding='depthgan')`` reads::

    OUT_ROOT/rgb/<name>         byte copies of RGB_DIR's images
    OUT_ROOT/depth/<stem>.png   16-bit grey round(30000 (d + 1)), d the image's normalised depth in [-1, 1]

    python tools/dataset_converters/estimate_depth.py data/bedroom_rgb data/bedroom_rgbd --model leres.onnx
    python tools/dataset_converters/estimate_depth.py imgs out --model dpt_hybrid.onnx --output-kind disparity

The estimator is a file (:mod:`gen3d.models.depth_estimation`); nothing is downloaded. ``--normalise leres`` (default)
is the AdelaiDepth demo's per-image ``(out - min + 0.01) / max`` that the official files appear to hold; ``minmax``
spans [-1, 1]. File names are data: a name that is not a plain file name, two images of one stem, or a destination
that resolves outside OUT_ROOT (a symlink planted there) is refused before anything is written.
"""

import argparse
import os
import os.path as osp
import shutil
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _progress(total: int):  # noqa: ANN202 - a tqdm bar, or None (then main prints a counter)
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="depth", unit="img")


def plan(rgb_dir: str, out_root: str) -> list[tuple[str, str, str]]:
    """``(source, rgb destination, depth destination)`` per image; raises SystemExit naming a refused file."""
    from gen3d.runtime.paths import UnsafePathError, is_within, safe_component, safe_join
    from gen3d.runtime.sources import IMAGE_EXTENSIONS

    if not osp.isdir(rgb_dir):
        raise SystemExit(f"RGB folder {rgb_dir} does not exist")
    if is_within(rgb_dir, osp.join(out_root, "rgb")):
        raise SystemExit(f"{rgb_dir} is inside {osp.join(out_root, 'rgb')}: the copies would overwrite the sources")
    jobs, stems = [], {}
    for name in sorted(os.listdir(rgb_dir)):
        stem, ext = osp.splitext(name)
        if name.startswith(".") or ext.lower() not in IMAGE_EXTENSIONS:
            continue
        if safe_component(name) != name or safe_component(stem) != stem:
            raise SystemExit(f"refusing {osp.join(rgb_dir, name)!r}: not a plain file name")
        if stem in stems:
            raise SystemExit(f"two images of stem {stem!r} in {rgb_dir}: {stems[stem]} and {name}; keep one")
        stems[stem] = name
        try:
            jobs.append((osp.join(rgb_dir, name), safe_join(out_root, "rgb", name),
                         safe_join(out_root, "depth", stem + ".png")))
        except UnsafePathError as err:
            raise SystemExit(f"refusing {osp.join(rgb_dir, name)}: {err}") from err
    if not jobs:
        raise SystemExit(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {rgb_dir}")
    return jobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rgb_dir")
    parser.add_argument("out_root")
    parser.add_argument("--model", required=True, help="estimator: FILE.onnx, or hub:<dir>:<entry> (runs hubconf.py)")
    parser.add_argument("--output-kind", default="depth", choices=("depth", "disparity"),
                        help="depth (LeReS, larger = farther) or disparity (MiDaS / DPT)")
    parser.add_argument("--input-size", type=int, help="network input size (default: the ONNX static size, else "
                        "each image's own)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--normalise", default="leres", choices=("leres", "minmax"), help="per-image map to [-1, 1]")
    args = parser.parse_args(argv)
    import cv2
    import torch

    from gen3d.datasets.transforms.rgbd_transforms import encode_depthgan_png
    from gen3d.models.depth_estimation import DepthEstimator, normalise_depth
    from gen3d.runtime.paths import safe_makedirs

    jobs = plan(args.rgb_dir, args.out_root)
    try:
        estimator = DepthEstimator(args.model, output_kind=args.output_kind, input_size=args.input_size)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"--model: {err}") from err
    safe_makedirs(args.out_root, "rgb")
    safe_makedirs(args.out_root, "depth")
    bar, batch, done = _progress(len(jobs)), [], [0]

    def flush() -> None:
        depth = normalise_depth(estimator(torch.stack([img for img, _ in batch])), args.normalise)
        for d, (_, (src, dst_rgb, dst_depth)) in zip(depth, batch):
            ok, png = cv2.imencode(".png", encode_depthgan_png(d[0].numpy()))
            if not ok:
                raise SystemExit(f"cannot encode the depth of {src}")
            with open(dst_depth, "wb") as f:
                f.write(png.tobytes())
            shutil.copyfile(src, dst_rgb)
        done[0] += len(batch)
        if bar is None:
            print(f"\r{done[0]}/{len(jobs)} images", end="", flush=True)
        else:
            bar.update(len(batch))
        batch.clear()

    for job in jobs:
        bgr = cv2.imread(job[0], cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot decode {job[0]}")
        img = torch.from_numpy(bgr[..., ::-1].transpose(2, 0, 1).copy())
        if batch and (len(batch) >= args.batch_size or batch[0][0].shape != img.shape):
            flush()
        batch.append((img, job))
    flush()
    print() if bar is None else bar.close()
    print(f"wrote {len(jobs)} RGB-D pairs to {args.out_root} (rgb/, depth/: official 16-bit encoding)")


if __name__ == "__main__":
    main()
