"""Benchmarks of gen3d's models, run by ``tools/benchmark.py``; each returns rows for a printed table."""

from __future__ import annotations

import torch
from mmengine.optim import OptimWrapper

from gen3d.structures import AnomalyDataSample
from gen3d.utils.benchmark import summarize, time_interleaved


def _uniad_batch(batch_size: int, size: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(batch_size)]
    samples = [AnomalyDataSample(metainfo=dict(img_path=f"bench_{i}.png", cls_name="bench")) for i in
               range(batch_size)]
    return dict(inputs=inputs, data_samples=samples)


def bench_uniad_train(config: str, batch_size: int = 8, rounds: int = 8, bf16: bool = True) -> list[dict]:
    """One UniAD training step (forward, backward, AdamW, clip) per call: cache off/on, fp32/bf16 autocast.

    The feature cache holds the batch's backbone features after the warm-up, so "cached" steps skip the
    frozen backbone as later epochs of a real run do.

    Args:
        config: A UniAD config (its model, optimizer settings and input size are used).
        batch_size: Images per step.
        rounds: Timed steps per variant (interleaved).
        bf16: Also time bf16 autocast variants (``CPUAutocastOptimWrapper`` on CPU).

    Returns:
        Table rows: variant, median/p90 seconds per step, images/s, speed-up over fp32 without cache.
    """
    from gen3d.apis.inference import _no_pretrained
    from gen3d.engine.optim_wrappers import CPUAutocastOptimWrapper
    from gen3d.registry import MODELS
    from gen3d.utils.config import load_config

    cfg = load_config(config)
    model_cfg = cfg.model.to_dict()
    if model_cfg.get("backbone", {}).get("pretrained") not in (None, False, "lite0-offline"):
        _no_pretrained(model_cfg)  # no download in a benchmark; speed does not depend on the weights
    size = int(model_cfg.get("input_size", (224, 224))[0])
    batch = _uniad_batch(batch_size, size)
    variants = {}
    for cached in (False, True):
        model_cfg["feature_cache"] = dict(type="memory", max_items=10_000) if cached else None
        for amp in (False, True) if bf16 else (False,):
            torch.manual_seed(0)
            model = MODELS.build(model_cfg).train()
            optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=1e-4)
            wrapper_cls = CPUAutocastOptimWrapper if amp else OptimWrapper
            wrapper = wrapper_cls(optimizer=optim, clip_grad=dict(max_norm=0.1))
            name = f"{'bf16' if amp else 'fp32'} {'cached' if cached else 'uncached'}"
            variants[name] = (lambda m=model, w=wrapper: m.train_step(batch, w))
    times = time_interleaved(variants, rounds=rounds, warmup=2)
    rows = summarize(times, baseline="fp32 uncached", items_per_call=batch_size)
    for row in rows:
        row["it/s"] = row["items/s"] / batch_size
        row["threads"] = torch.get_num_threads()
    return rows
