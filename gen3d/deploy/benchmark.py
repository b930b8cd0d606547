"""Latency of a deployed anomaly model: eager PyTorch vs ONNX Runtime fp32 / int8, for ``tools/benchmark.py``.

Each variant runs in its own Python process (``python -m gen3d.deploy.benchmark VARIANT ...``) so that its peak
resident memory (:func:`peak_rss_mib`) is that runtime's alone, and so that PyTorch
and ONNX Runtime thread pools never compete. Input: random uint8 RGB frames ``(B, H, W, 3)``; the eager
variant includes the same preprocessing (cast, normalise) as the end2end graph.

ONNX Runtime settings (what makes it fast on a 2-core CPU): ``ORT_ENABLE_ALL`` graph optimisation (Conv+BN+
activation, MatMul+Add, attention and LayerNorm fusions, Q/DQ -> QLinearConv/QLinearMatMul), ``intra_op_num_threads``
= the core count, sequential execution, no thread spinning (spinning doubled the latency whenever another
process shared the 2 cores) and ``SkipLayerNormFusion`` disabled (its kernel was slower than LayerNorm + Add).
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time

import numpy as np

from gen3d.runtime.backend import with_spin

DEFAULT_DISABLED = ("SkipLayerNormFusion",)
BOUNDED_SPIN_US = 50
"""``session.intra_op.spin_duration_us`` of the ``'ort-bounded'`` variant: pool threads spin that long after their
work, then sleep (ONNX Runtime >= 1.20 reads the key; older versions ignore it and spin with their own count). 50 us
was as fast as 200 us and as unbounded spinning on idle cores and lost least next to a busy process (int8 Lite0
UniAD, 2 cores, 2026-12-03: ``deploy/README.md``, "CPU threads")."""
ORT_KINDS: dict[str, bool | int] = {"ort": False, "ort-spin": True, "ort-bounded": BOUNDED_SPIN_US}
"""Variant kind -> the runtime's ``spin`` choice (:func:`gen3d.runtime.backend.with_spin`)."""
SPIN_CHOICES = {"off": ["ort"], "on": ["ort-spin"], "bounded": ["ort-bounded"], "both": ["ort", "ort-spin"],
                "all": ["ort", "ort-bounded", "ort-spin"]}
"""``--ort-spin`` values -> the ONNX Runtime rows timed per file."""
_SUFFIX = {"ort": "", "ort-spin": " spin", "ort-bounded": f" spin {BOUNDED_SPIN_US} us"}


EXACT = "-exact"  # kind suffix: int8 Q/DQ run as written (gen3d.runtime.hardware.int8_needs_exact_kernels)


def _timed(fn, rounds: int, warmup: int) -> tuple[list[float], list[float]]:  # noqa: ANN001
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return times, cpu


def _make_ort(path: str, threads: int, disabled: tuple[str, ...], kind: str = "ort"):  # noqa: ANN202
    """An onnxruntime session for a variant kind.

    ``ORT_KINDS`` sets the spinning; a ``-exact`` suffix sets the basic graph optimisation that the runtime uses for
    full-range int8 files where the CPU saturates them.
    """
    import onnxruntime as ort

    exact = kind.endswith(EXACT)
    kind = kind.removesuffix(EXACT)
    opts = ort.SessionOptions()
    level = "ORT_ENABLE_BASIC" if exact else "ORT_ENABLE_ALL"
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    for key, value in with_spin({}, ORT_KINDS[kind]).items():
        opts.add_session_config_entry(key, value)
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"], disabled_optimizers=list(disabled))


def run_variant(variant: str, path: str, batch: int, threads: int, rounds: int, warmup: int,
                config: str | None = None, size: tuple[int, int] = (224, 224)) -> dict:
    """Time one variant in this process; returns wall and CPU seconds per call and the peak RSS (MiB)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, *size, 3), dtype=np.uint8)
    if variant == "torch":
        import torch

        from gen3d.apis.inference import init_model
        from gen3d.deploy.anomaly_wrapper import normalization_of

        torch.set_num_threads(threads)
        model = init_model(path, config)
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in normalization_of(model))
        x = torch.from_numpy(images)

        def fn() -> None:
            with torch.inference_mode():
                model((x.permute(0, 3, 1, 2).float() - mean) / std, mode="tensor")
    else:
        sess = _make_ort(path, threads, DEFAULT_DISABLED, variant)
        shapes = {i.name: i.shape for i in sess.get_inputs()}
        feeds = {"image": images, "class_index": np.zeros(batch, np.int64)} if "image" in shapes else \
            {"input": rng.standard_normal((batch, 3, *size), dtype=np.float32)}
        for name in ("image_threshold", "pixel_threshold"):  # real inputs since the thresholds left the graph
            if name in shapes:
                feeds[name] = np.ones(shapes[name], np.float32)

        def fn() -> None:
            sess.run(None, feeds)
    times, cpu = _timed(fn, rounds, warmup)
    return {"times": times, "cpu_times": cpu, "peak_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """Peak resident memory of this process: ``VmHWM`` (Linux), else ``getrusage`` ``ru_maxrss``.

    ``ru_maxrss`` survives ``exec`` on Linux, so a child started by a big parent (one that imported torch) would
    report the parent's peak; ``VmHWM`` belongs to the new address space.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _subprocess(variant: str, path: str, batch: int, threads: int, rounds: int, warmup: int,
                config: str | None, size: tuple[int, int]) -> dict:
    cmd = [sys.executable, "-m", "gen3d.deploy.benchmark", variant, path, "--batch", str(batch), "--threads",
           str(threads), "--rounds", str(rounds), "--warmup", str(warmup), "--size", str(size[0]), str(size[1])]
    if config:
        cmd += ["--config", config]
    # Passive OpenMP waits: PyTorch's spinning workers were 10-40x slower whenever another process shared the cores.
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE", "NO_ALBUMENTATIONS_UPDATE": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(f"benchmark of {variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _static_batch(onnx_path: str) -> int | None:
    """The fixed batch size of the graph's first input, or ``None`` when it is dynamic."""
    import onnx

    dim = onnx.load(onnx_path, load_external_data=False).graph.input[0].type.tensor_type.shape.dim[0]
    return int(dim.dim_value) if dim.HasField("dim_value") else None


def bench_deploy(variants: dict[str, tuple[str, str]], batch_sizes: tuple[int, ...] = (1, 8), threads: int = 2,
                 rounds: int = 30, warmup: int = 3, config: str | None = None,
                 size: tuple[int, int] = (224, 224)) -> list[dict]:
    """Rows of the latency table.

    Args:
        variants: ``{row name: (kind, path)}`` with kind ``'torch'`` (path = checkpoint), ``'ort'`` (ONNX file),
            ``'ort-spin'`` (the same with spinning pool threads) or ``'ort-bounded'`` (spinning for
            :data:`BOUNDED_SPIN_US` after each piece of work), each with an optional ``'-exact'`` suffix (basic
            graph optimisation: int8 Q/DQ pairs run as written); the first ``'torch'`` variant is the baseline of the
            ratios.
        batch_sizes: Batch sizes to time (a static-batch ONNX graph is timed at its own batch size only).
        threads: Intra-op threads of every runtime.
        rounds: Timed calls per variant and batch size (fewer for large batches: ``max(5, rounds // batch)``).
        warmup: Untimed calls first.
        config: Model config for the PyTorch variant (``None``: the checkpoint's).
        size: ``(H, W)`` of the frames.

    Returns:
        One row per (variant, batch): p50/p99 ms per batch, ms per image, images/s, peak RSS, CPU ms per image
        (summed over threads: less sensitive to other load on a shared machine), speed-up over PyTorch.
    """
    rows = []
    static = {name: _static_batch(path) for name, (kind, path) in variants.items() if kind.startswith("ort")}
    for batch in batch_sizes:
        base = None
        for name, (kind, path) in variants.items():
            if static.get(name) not in (None, batch):
                continue  # a static-shape graph (e.g. a TensorRT-style batch-1 bundle) runs only its own batch
            res = _subprocess(kind, path, batch, threads, max(5, rounds // batch), warmup, config, size)
            t = np.asarray(res["times"]) * 1e3
            p50 = float(np.percentile(t, 50))
            base = base if base is not None or kind != "torch" else p50
            rows.append({"variant": name, "batch": batch, "p50 ms": p50, "p99 ms": float(np.percentile(t, 99)),
                         "ms/img": p50 / batch, "img/s": 1e3 * batch / p50, "peak MiB": res["peak_rss_mib"],
                         "cpu ms/img": float(np.median(res["cpu_times"])) * 1e3 / batch,
                         "speed-up": (base / p50) if base else float("nan")})
    return rows


DEPLOY_COLUMNS = ["variant", "batch", "p50 ms", "p99 ms", "ms/img", "cpu ms/img", "img/s", "peak MiB", "speed-up"]


def bench_bundles(bundles: list[str], checkpoint: str | None = None, config: str | None = None,
                  batch_sizes: tuple[int, ...] = (1, 8), threads: int = 2,
                  rounds: int = 32, spin: str = "off") -> tuple[list[dict], str]:
    """Time the ONNX files of bundles (and the checkpoint in eager PyTorch, the ratios' baseline).

    Args:
        bundles: Bundle folders written by ``tools/deploy.py``; an int8 bundle contributes its fp32 and Q/DQ files.
            A Q/DQ file that the runtime runs exactly on this CPU (full-range weights where the fused kernels
            saturate) is timed both ways: as the runtime runs it and on the fused kernels, which are wrong here.
        checkpoint: Optional checkpoint for the eager PyTorch row.
        config: Model config of that checkpoint (``None``: the one saved in it).
        batch_sizes: Batch sizes to time.
        threads: Intra-op threads of every runtime.
        rounds: Timed calls per variant at batch 1 (see :func:`bench_deploy`).
        spin: onnxruntime pool threads ``'off'`` (passive), ``'on'`` (spinning: faster on cores of their own, much
            slower on shared ones), ``'bounded'`` (spinning for :data:`BOUNDED_SPIN_US`, then asleep), ``'both'``
            (off and on) or ``'all'`` (one row each of the three).

    Returns:
        ``(rows, title)``: the table rows and a one-line description of the setting.
    """
    from gen3d.runtime.hardware import int8_needs_exact_kernels
    from gen3d.runtime.manifest import int8_full_range, load_manifest

    variants: dict[str, tuple[str, str]] = {}
    size: tuple[int, ...] = (224, 224)
    if checkpoint:
        variants["pytorch eager"] = ("torch", checkpoint)
    for bundle in bundles:
        manifest = load_manifest(bundle)
        size = tuple(manifest["model"].get("input_size", size))
        if manifest["mode"] == "end2end":
            size = tuple(manifest["inputs"][0]["shape"][1:3])
        for key in ("onnx_fp32", "onnx"):
            if key in manifest:
                precision = "fp32" if key == "onnx_fp32" else manifest["onnx"]["precision"]
                name = f"onnxruntime {precision} ({osp.basename(osp.normpath(bundle))})"
                path = osp.join(bundle, manifest[key]["file"])
                exact = key == "onnx" and int8_needs_exact_kernels(int8_full_range(manifest))
                for kind in SPIN_CHOICES[spin]:
                    if exact:
                        variants[name + _SUFFIX[kind] + " exact Q/DQ (the runtime here)"] = (kind + EXACT, path)
                    variants[name + _SUFFIX[kind] + (" fused (saturates here)" if exact else "")] = (kind, path)
    rows = bench_deploy(variants, batch_sizes, threads, rounds, config=config, size=(int(size[0]), int(size[1])))
    title = f"Deployed model latency, {size[0]}x{size[1]} uint8 frames, {threads} threads, own process per row"
    return rows, title


def main(argv: list[str] | None = None) -> None:
    """Subprocess entry: time one variant and print its JSON result as the last line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=["torch", *ORT_KINDS, *(kind + EXACT for kind in ORT_KINDS)])
    parser.add_argument("path")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--size", type=int, nargs=2, default=(224, 224))
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    res = run_variant(args.variant, args.path, args.batch, args.threads, args.rounds, args.warmup, args.config,
                      tuple(args.size))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
