"""Inspect images: ``python tools/infer.py CHECKPOINT_OR_BUNDLE INPUT [--out-dir DIR]`` (image/folder/video/camera).

Anomaly models write ``verdicts.csv`` (or ``--jsonl``; path, class, score, label, error, latency_ms; one flushed row
per input) and one overlay per image under ``--out-dir``; segmentors write ``segmentation.csv`` (path, error,
latency_ms, label_map, area_<class>, pixels_<class>), ``label_maps/*.png`` (class ids) and palette overlays. A
bundle folder (``manifest.json``) runs on :mod:`gen3d.runtime` (onnxruntime or TensorRT) and never imports torch; a
``.pth`` checkpoint runs on PyTorch through the same loop (:func:`gen3d.runtime.run.run_inspection`), so the rows
mean the same on both (anomaly score: ``clip(raw / (2 * threshold), 0, 1)``, 0.5 = the class threshold).
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gen3d.runtime.__main__ import add_stream_flags, add_verify_flag

    parser = argparse.ArgumentParser(description="Run an anomaly or segmentation checkpoint or bundle on images, a "
                                                 "video or a camera")
    parser.add_argument("model", help="checkpoint (.pth) from tools/train.py, or bundle folder from tools/deploy.py")
    parser.add_argument("input", help="image file, folder, video file, camera index (0) or stream URL")
    parser.add_argument("--out-dir", default="work_dirs/infer", help="where verdicts.csv and overlays go")
    parser.add_argument("--config", help="config file (checkpoints only; default: the one saved in it)")
    parser.add_argument("--class-name", help="product class of every input (anomaly; default: from the path)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="torch device (checkpoints only)")
    parser.add_argument("--no-overlay", action="store_true", help="write the verdicts only")
    parser.add_argument("--thresholds", help='JSON {class: {"image": t, "pixel": t}} overriding the stored thresholds')
    parser.add_argument("--backend", choices=("auto", "onnxruntime", "tensorrt"), default="auto", help="bundles only")
    parser.add_argument("--threads", type=int, help="onnxruntime CPU threads (bundles only)")
    parser.add_argument("--spin", action=argparse.BooleanOptionalAction, default=None,
                        help="onnxruntime thread spinning, for cores of its own (bundles only; default: off)")
    parser.add_argument("--spin-us", type=int, metavar="US",
                        help="onnxruntime pool threads spin US microseconds, then sleep (bundles only)")
    parser.add_argument("--jsonl", action="store_true", help="write verdicts.jsonl instead of CSV")
    add_stream_flags(parser)
    add_verify_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if osp.isfile(osp.join(args.model, "manifest.json")):  # a bundle: no torch on this path
        from gen3d.runtime.__main__ import run_cli

        sys.exit(run_cli(args))
    from gen3d.apis.inference import load_predictor
    from gen3d.runtime.__main__ import load_thresholds, stream_options
    from gen3d.runtime.run import run_inspection
    from gen3d.runtime.sources import StreamStalled
    from gen3d.utils import CorruptCheckpointError, UnsafeCheckpointError

    try:  # the runtime's loop: the same rows, score meaning, latency column, JSONL and overlay names as a bundle
        predictor = load_predictor(args.model, args.config, args.device, load_thresholds(args.thresholds))
        if getattr(predictor, "task", "anomaly") == "anomaly" and not predictor.classes:
            print(f"warning: {args.model} holds no thresholds (saved before any validation): every verdict is "
                  "'unknown'; use a validated checkpoint (best_*.pth) or --thresholds", file=sys.stderr)
        run_inspection(predictor, args.input, args.out_dir, args.class_name, args.batch_size,
                       overlay=not args.no_overlay, jsonl=args.jsonl, log=sys.stderr, **stream_options(args))
    except StreamStalled as err:  # a camera that stopped: the verdicts so far are written
        print(f"warning: {err}", file=sys.stderr)
    except (OSError, ValueError, CorruptCheckpointError, UnsafeCheckpointError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
