"""``python -m gen3d.runtime BUNDLE INPUT [--out-dir DIR]``: the torch-free bundle runner for edge devices.

It is ``tools/infer.py`` for bundles, for a device where only the runtime is installed. The manifest's task picks
the runtime: an anomaly bundle writes ``DIR/verdicts.csv`` and overlays; a segmentation bundle
(``task='segmentation'``) writes ``DIR/segmentation.csv`` (path, error, latency, label-map PNG, ``area_<class>``
pixel fraction and ``pixels_<class>`` count per class), one uint8/uint16 label-map PNG per frame under
``DIR/label_maps/`` and palette overlays under ``DIR/overlays/`` (:mod:`gen3d.runtime.segmentation`). A generator bundle
(``task='generation'``) takes no input: ``python -m gen3d.runtime BUNDLE --seeds 0-15 [--truncation-psi 0.7]
[--class-index K] --out-dir DIR`` writes ``DIR/grid.png`` (:mod:`gen3d.runtime.generation`); a 3D-aware one
(pi-GAN: seeded poses from the manifest's pose distribution) also writes ``DIR/geometry.png``, RGB beside depth and
normals.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator

from gen3d.runtime.backend import BACKENDS, with_spin


def build_parser() -> argparse.ArgumentParser:
    """The bundle options shared with ``tools/infer.py``."""
    parser = argparse.ArgumentParser(prog="python -m gen3d.runtime",
                                     description="Run a gen3d bundle on images, a folder, a video or a camera")
    parser.add_argument("model", help="bundle folder (manifest.json + model.onnx [+ model.engine])")
    parser.add_argument("input", nargs="?", help="image file, folder, video file, camera index (0) or stream URL "
                                                 "(not for generator bundles)")
    parser.add_argument("--out-dir", default="work_dirs/infer",
                        help="where verdicts.csv (segmentation: segmentation.csv, label_maps/) and overlays go")
    parser.add_argument("--class-name", help="product class of every input (anomaly; default: from the path)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-overlay", action="store_true",
                        help="write the rows only (segmentation: and the label maps)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="bundles only")
    parser.add_argument("--threads", type=int, help="onnxruntime CPU threads (bundles only)")
    parser.add_argument("--spin", action=argparse.BooleanOptionalAction, default=None,
                        help="onnxruntime thread spinning: faster on cores of its own, slower on shared ones "
                             "(default: the bundle's hint, off)")
    parser.add_argument("--spin-us", type=int, metavar="US",
                        help="onnxruntime pool threads spin US microseconds after their work, then sleep (a "
                             "dedicated PC: near-spinning latency, sleeping threads' CPU between frames)")
    parser.add_argument("--jsonl", action="store_true", help="write JSON lines (verdicts.jsonl) instead of CSV")
    add_stream_flags(parser)
    add_verify_flag(parser)
    gen = parser.add_argument_group("generator bundles (task='generation')")
    gen.add_argument("--seeds", default="0-15", help="seeds, e.g. 0-15 or 1,5,9 (the same latents, and images, as "
                                                     "tools/gan/generate.py gives for them)")
    gen.add_argument("--truncation-psi", type=float, help="default: the bundle's stored value")
    gen.add_argument("--class-index", help="class index or name (conditional generators)")
    gen.add_argument("--grid-cols", type=int, help="images per grid row (default: square)")
    gen.add_argument("--save-images", action="store_true", help="also write one seedNNNN.png per seed")
    return parser


def add_stream_flags(parser: argparse.ArgumentParser) -> None:
    """``--save``, ``--video``, ``--vid-stride``, ``--frame-log`` (shared with ``tools/infer.py``)."""
    parser.add_argument("--save", choices=("all", "defects", "none"),
                        help="overlay PNGs for all frames, defects only (anomaly), or none (default: all for images "
                             "and folders, defects for videos and live sources; segmentation: all)")
    parser.add_argument("--video", action="store_true", help="also write <out-dir>/annotated.mp4")
    parser.add_argument("--vid-stride", type=int, default=1, help="videos and live sources: every N-th frame")
    parser.add_argument("--frame-log", action=argparse.BooleanOptionalAction, default=None,
                        help="one line per frame with verdict and score (segmentation: the largest classes), "
                             "latency and dropped frames (default: on for videos and live sources)")


def stream_options(args: argparse.Namespace) -> dict:
    """The :func:`~gen3d.runtime.run.run_inspection` keywords of :func:`add_stream_flags`."""
    return {"save": getattr(args, "save", None), "video": bool(getattr(args, "video", False)),
            "vid_stride": int(getattr(args, "vid_stride", 1) or 1), "frame_log": getattr(args, "frame_log", None)}


def add_verify_flag(parser: argparse.ArgumentParser) -> None:
    """``--allow-modified-bundle``: the opt-out of bundle verification (shared with ``tools/infer.py``)."""
    parser.add_argument("--allow-modified-bundle", action="store_true",
                        help="run a bundle whose manifest or files do not match their hashes (edited on purpose), "
                             "with a warning; files outside the bundle are refused anyway. Better: re-seal it with "
                             "python -m gen3d.runtime.reseal BUNDLE")


@contextlib.contextmanager
def loud_warnings() -> Iterator[None]:
    """Print warnings (an unverified bundle) as one ``WARNING: ...`` line on stderr, every time."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *_, **__: print(f"WARNING: {message}", file=sys.stderr)
        yield


def bundle_task(bundle_dir: str) -> str | None:
    """The ``task`` of a bundle's manifest, or None where it cannot be read (the runner reports that)."""
    import json
    import os.path as osp

    try:
        with open(osp.join(bundle_dir, "manifest.json")) as f:
            return json.load(f).get("task")
    except (OSError, ValueError, AttributeError):
        return None


def run_generation_cli(args: argparse.Namespace) -> int:
    """Sample a generator bundle from parsed arguments; 1 and a message on stderr on failure."""
    with loud_warnings():
        return _run_generation_cli(args)


def _run_generation_cli(args: argparse.Namespace) -> int:
    from gen3d.runtime.generation import parse_seeds, run_generation

    try:
        seeds = parse_seeds(getattr(args, "seeds", None) or "0-15")
        out = run_generation(args.model, args.out_dir, seeds, getattr(args, "truncation_psi", None),
                             getattr(args, "class_index", None), backend=args.backend, threads=args.threads,
                             batch_size=args.batch_size, nrow=getattr(args, "grid_cols", None),
                             save_images=bool(getattr(args, "save_images", False)),
                             verify_hashes=not getattr(args, "allow_modified_bundle", False))
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(seeds)} images {out['shape'][1:]} ({out['backend']}); grid in {out['grid']}")
    if out.get("geometry"):  # a 3D-aware bundle: RGB | depth | normal per seed
        print(f"maps {out['maps']}: RGB, depth (near bright) and normals side by side in {out['geometry']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the bundle; returns the exit status (errors are printed, not raised)."""
    args = build_parser().parse_args(argv)
    return run_cli(args)


def spin_choice(args: argparse.Namespace) -> bool | int | None:
    """The runtime's ``spin`` from ``--spin`` / ``--no-spin`` / ``--spin-us`` (both given: an error)."""
    spin, spin_us = getattr(args, "spin", None), getattr(args, "spin_us", None)
    if spin_us is None:
        return spin
    if spin is not None:
        raise ValueError("--spin-us sets a bounded spin; do not combine it with --spin / --no-spin")
    with_spin({}, spin_us)  # refuses a duration that is not positive, before any bundle is opened
    return spin_us


def load_thresholds(path: str | None) -> dict[str, dict[str, float]] | None:
    """Read ``{class: {"image": t, "pixel": t}}`` from a JSON file (``--thresholds``), or None.

    Raises:
        ValueError: The file is not such a mapping (names the file).
    """
    if not path:
        return None
    import json

    with open(path) as f:
        data = json.load(f)
    valid = isinstance(data, dict) and all(isinstance(v, dict) and set(v) <= {"image", "pixel"} for v in data.values())
    if not valid:
        raise ValueError(f"{path}: expected {{class: {{'image': t, 'pixel': t}}}}")
    return {str(k): {kk: float(vv) for kk, vv in v.items()} for k, v in data.items()}


def run_cli(args: argparse.Namespace) -> int:
    """Run :func:`~gen3d.runtime.run.run_bundle` from parsed arguments; 1 and a message on stderr on failure."""
    with loud_warnings():
        return _run_cli(args)


def _run_cli(args: argparse.Namespace) -> int:
    from gen3d.runtime.backend import keep_caches_under
    from gen3d.runtime.run import run_bundle

    keep_caches_under(args.out_dir)  # nothing written outside --out-dir (read-only edge file systems)

    if bundle_task(args.model) == "generation":
        return run_generation_cli(args)
    if not args.input:
        print("error: an input (image, folder, video, camera, URL) is required for this bundle", file=sys.stderr)
        return 1
    try:
        run_bundle(args.model, args.input, args.out_dir, class_name=args.class_name, backend=args.backend,
                   batch_size=args.batch_size, overlay=not args.no_overlay, jsonl=args.jsonl, threads=args.threads,
                   spin=spin_choice(args),
                   thresholds=load_thresholds(getattr(args, "thresholds", None)),
                   verify_hashes=not getattr(args, "allow_modified_bundle", False), **stream_options(args))
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # every verdict so far is already on disk
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
