"""Inspect images: ``python tools/infer.py CHECKPOINT_OR_BUNDLE INPUT [--out-dir DIR]`` (image/folder/video/camera).

Writes ``verdicts.csv`` (path, class, score, label, error[, latency_ms]) and one overlay per image under
``--out-dir``. A bundle folder (``manifest.json``) runs on :mod:`gen3d.runtime` (onnxruntime or TensorRT) and
never imports torch; a ``.pth`` checkpoint runs on PyTorch.
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gen3d.runtime.__main__ import add_verify_flag

    parser = argparse.ArgumentParser(description="Run an anomaly checkpoint or bundle on images, a video or a camera")
    parser.add_argument("model", help="checkpoint (.pth) from tools/train.py, or bundle folder from tools/deploy.py")
    parser.add_argument("input", help="image file, folder, video file, camera index (0) or stream URL")
    parser.add_argument("--out-dir", default="work_dirs/infer", help="where verdicts.csv and overlays go")
    parser.add_argument("--config", help="config file (checkpoints only; default: the one saved in it)")
    parser.add_argument("--class-name", help="product class of every input (default: from the path)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="torch device (checkpoints only)")
    parser.add_argument("--no-overlay", action="store_true", help="write the verdicts only")
    parser.add_argument("--thresholds", help='JSON {class: {"image": t, "pixel": t}} overriding the stored thresholds')
    parser.add_argument("--backend", choices=("auto", "onnxruntime", "tensorrt"), default="auto", help="bundles only")
    parser.add_argument("--threads", type=int, help="onnxruntime CPU threads (bundles only)")
    parser.add_argument("--spin", action=argparse.BooleanOptionalAction, default=None,
                        help="onnxruntime thread spinning, for cores of its own (bundles only; default: off)")
    parser.add_argument("--jsonl", action="store_true", help="write verdicts.jsonl instead of CSV (bundles only)")
    add_verify_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if osp.isfile(osp.join(args.model, "manifest.json")):  # a bundle: no torch on this path
        from gen3d.runtime.__main__ import run_cli

        sys.exit(run_cli(args))
    from tqdm import tqdm

    from gen3d.apis.inference import guess_class, inference_anomaly, init_anomaly_model, iter_frames
    from gen3d.runtime.anomaly import Result
    from gen3d.runtime.overlay import draw_overlay, save_rgb
    from gen3d.runtime.paths import safe_join
    from gen3d.runtime.sources import StreamStalled
    from gen3d.runtime.writers import VerdictWriter, overlay_name, verdict
    from gen3d.utils import CorruptCheckpointError, UnsafeCheckpointError

    try:
        model = init_anomaly_model(args.model, args.config, args.device)
        from gen3d.runtime.__main__ import load_thresholds

        for cls_name, thr in (load_thresholds(args.thresholds) or {}).items():
            model.thresholds.setdefault(cls_name, {}).update(thr)
        classes = sorted(model.thresholds)
        if args.class_name is not None and classes and args.class_name not in classes:  # as the bundle path does
            raise ValueError(f"unknown class {args.class_name!r}; this checkpoint knows: {classes}")
        frames = iter_frames(args.input)
        first = next(frames, None)
    except (OSError, ValueError, CorruptCheckpointError, UnsafeCheckpointError) as err:
        sys.exit(f"error: {err}")
    if not classes:
        print(f"warning: {args.model} holds no thresholds (saved before any validation): every verdict is 'unknown'; "
              "use a validated checkpoint (best_*.pth) or --thresholds", file=sys.stderr)
    os.makedirs(osp.join(args.out_dir, "overlays"), exist_ok=True)
    csv_path = osp.join(args.out_dir, "verdicts.csv")
    root = args.input if osp.isdir(args.input) else None
    counts = {"GOOD": 0, "DEFECT": 0, "unknown": 0, "error": 0}

    def flush(batch: list, writer: VerdictWriter) -> None:
        names = [args.class_name or guess_class(f.source, classes) for f in batch]
        samples = inference_anomaly(model, [f.image for f in batch], names, [f.source for f in batch])
        for frame, name, sample in zip(batch, names, samples):
            label = bool(int(sample.pred_label)) if "pred_label" in sample else None
            result = Result(frame.source, name, score=float(sample.pred_score), label=label)
            counts[verdict(result)] += 1
            writer.write(result)
            if not args.no_overlay:
                thr = model.thresholds.get(name or "", {}).get("pixel")
                mask = sample.pred_mask.cpu().numpy() if "pred_mask" in sample else None
                pic = draw_overlay(frame.image, sample.anomaly_map.cpu().numpy(), result.score,
                                   None if label is None else int(label), mask, None, thr, name or "")
                save_rgb(safe_join(osp.join(args.out_dir, "overlays"), overlay_name(frame.source, root)), pic)
        batch.clear()

    with VerdictWriter(csv_path, "csv") as writer:  # the runtime's writer: one CSV format, cells neutralised
        batch = []
        try:
            for frame in tqdm(_chain(first, frames), desc="inspect", unit="img"):
                if frame.image is None:  # reported, and the stream goes on
                    counts["error"] += 1
                    writer.write(Result(frame.source, None, error=frame.error or "frame could not be decoded"))
                    print(f"warning: {frame.source}: {frame.error}", file=sys.stderr)
                    continue
                batch.append(frame)
                if len(batch) == args.batch_size:
                    flush(batch, writer)
        except StreamStalled as err:  # a camera that stopped: keep the verdicts so far, then say so
            print(f"warning: {err}", file=sys.stderr)
        if batch:
            flush(batch, writer)
    print(f"{sum(counts.values())} inputs: {counts}; verdicts in {csv_path}")


def _chain(first, rest):  # noqa: ANN001, ANN202
    if first is not None:
        yield first
    yield from rest


if __name__ == "__main__":
    main()
