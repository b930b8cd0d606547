"""Benchmarks that print a table: ``python tools/benchmark.py uniad-train [--config C] [--batch-size 8]``.

``python tools/benchmark.py deploy --bundle DIR [DIR ...] [--checkpoint CKPT] [--threads 2]``: eager PyTorch vs
ONNX Runtime fp32 / int8 latency (p50/p99), throughput and peak memory of each runtime's own process.

``python tools/benchmark.py seg-step [--batch-size 4] [--crop-size 96]``: one training step of U2PL, MeanTeacher
and FST-D (k = 3) around each, relative to a supervised DeepLabV3+ step on the same two-stream batch.

``python tools/benchmark.py gan-train [--config GAN_CONFIG] [--batch-size 8] [--rounds 16]``: one StyleGAN2 training
step with the plain discriminator and with DynamicD (increasing and decreasing schedules), images/s and ratios.

``python tools/benchmark.py render [--batch-size 8] [--rounds 8]``: the pi-GAN generator's forward (no grad) of the
CPU model at 32 and 64 px, rays/s and images/s, ratios against 32 px.

``python tools/benchmark.py pigan-train [--batch-size 4] [--rounds 4]``: one pi-GAN training step (D with R1 and pose
loss, G, EMA) with the plain D and with GeoD, at 32 and 64 px, rays/s and images/s, ``x pi-GAN`` at the same size.

``python tools/benchmark.py depthgan-train [--resolution 32 64] [--rounds 16]``: one DepthGAN training iteration (all
phases, then without the rotation losses, without the depth losses, adversarial + R1 only) against a StyleGAN2 of its
appearance path's size, ``x StyleGAN2`` at each side.

``python tools/benchmark.py buffer-broadcast [--queue-scale 1.0] [--rounds 8]``: GradSyncDataParallel's per-step
buffer broadcast with 2 CPU gloo ranks, every buffer (before) vs those that can differ (U2PL's queues left out).

``python tools/benchmark.py resefa-locality [--checkpoint CKPT] [--resolution 32] [--rounds 20] [--region R
[--region-labels IDS] [--class-names F]]``: locality ratio (mean |dx| inside the region over mean |dx| outside,
held-out latents) of the top ReSeFa and SeFa directions and of ``--rounds`` random unit directions, ``x random``, on
the same generator and region; the region is a box cr,cc,h,w at 256 px, a box name, a mask file or a label map with
label ids / names (default: a centred box a quarter of the side wide); without a checkpoint an untrained (seeded)
lite StyleGAN2, labelled as such. Not a speed benchmark.

The training benchmarks (``uniad-train``, ``seg-step``, ``gan-train``, ``pigan-train``) and ``render`` take
``--device cuda``: models on the GPU, synchronised timing, fp16 ``AmpOptimWrapper`` for the mixed-precision variants
(bf16 autocast on CPU); ``--threads`` applies on CPU only. Speed is measured here, never in tests. Variants are
timed round-robin in one run and reported as ratios against a baseline, because these machines are noisy. The tasks
are :data:`gen3d.benchmarks.benchmarks.BENCH_TASKS`.
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gen3d.benchmarks.benchmarks import BENCH_TASKS, UNIAD_CONFIG
    from gen3d.utils.benchmark import DEVICES

    parser = argparse.ArgumentParser(description="gen3d benchmarks")
    parser.add_argument("task", choices=list(BENCH_TASKS), help="what to measure")
    parser.add_argument("--bundle", nargs="+", default=[], help="deploy: bundle folders written by tools/deploy.py")
    parser.add_argument("--checkpoint", help="deploy: checkpoint for the eager PyTorch baseline")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], help="deploy: batch sizes")
    parser.add_argument("--config", help=f"model config (uniad-train: default {UNIAD_CONFIG}; gan-train: one config "
                                         "instead of the three demo ones; render, pigan-train: a pi-GAN one; deploy: "
                                         "for the eager baseline)")
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="uniad-train, seg-step, gan-train, render, pigan-train: where the steps run (default cpu)")
    parser.add_argument("--batch-size", type=int,
                        help="images per step (default 8; seg-step: 4 per stream; pigan-train: 4)")
    parser.add_argument("--crop-size", type=int, default=96, help="seg-step: crop side")
    parser.add_argument("--resolution", type=int, nargs="+", help="depthgan-train: image sides to time (default 32)")
    parser.add_argument("--rounds", type=int, help="timed calls per variant (default 8; gan-train 16; pigan-train 4)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads on CPU (default: torch's choice)")
    parser.add_argument("--no-bf16", action="store_true",
                        help="uniad-train: skip the mixed-precision variants (bf16 on CPU, fp16 on CUDA)")
    parser.add_argument("--speed-options", action="store_true",
                        help="uniad-train: also time fused AdamW, torch.compile and SDPA rows (UNIAD_SPEED_VARIANTS)")
    parser.add_argument("--ort-spin", choices=("off", "on", "bounded", "both", "all"), default="off",
                        help="deploy: onnxruntime thread spinning (on: for cores of its own; bounded: 200 us after "
                             "each op, then asleep; both: off + on; all: a row each)")
    parser.add_argument("--queue-scale", type=float, default=1.0, help="buffer-broadcast: factor on VOC queue sizes")
    parser.add_argument("--region", help="resefa-locality: box cr,cc,h,w at 256 px, a box name, a mask file, or a "
                                         "label map with --region-labels (default: a centred box a quarter of the "
                                         "side wide)")
    parser.add_argument("--region-labels", help="resefa-locality: label ids / names of the --region label map")
    parser.add_argument("--class-names", help="resefa-locality: names of the label ids (.txt one a line, or .json)")
    parser.add_argument("--out", help="also write the rows as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from gen3d.benchmarks.benchmarks import resolve_task, run_task

    try:
        resolve_task(args.task, args.device)
    except (ValueError, RuntimeError) as err:
        sys.exit(f"error: {err}")
    try:
        run_task(args)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    except TypeError as err:  # a generator without w for resefa-locality
        if args.task != "resefa-locality":
            raise
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
