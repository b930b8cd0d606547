"""DepthGAN's GeneratedDepthEval (Shi et al., ECCV'22, arXiv 2202.08553): generated depth against an estimator's.

``VivianSZF/depthgan@80b259d:metrics/generated_depth_eval.py`` runs LeReS (``models/depthpred_model.py``) on the
generated RGB and takes the per-pixel L1 between the generator's depth mapped to ``[0, 1]`` and LeReS's depth
divided by its maximum, averaged over all pixels of all samples::

    pred = leres(x) - min(leres(x)) + 0.01                    # RelDepthModel.forward; min over the whole batch
    loss = |(d_fake + 1) / 2 - pred / max(pred)|               # max over the whole batch too

:class:`GeneratedDepthError` computes exactly that (``normalise='batch'``, min and max over the samples of one
``process`` call, which is one validation batch per rank as there), or per image (``normalise='image'``, which does
not depend on the batch size and equals the official number at batch size 1). The official estimator sees the
generated RGB as ``[0, 1]`` without mean / std at the generator's resolution (``RelDepthModel.forward``); the
estimator here defaults to that too (``mean=(0, 0, 0)``, ``std=(1, 1, 1)``, its own input size if the file fixes
one), and the image comes from ``fake_img`` (uint8, so quantised where the official code used the float RGB;
``image_key='fake_rgbd'`` takes the float RGB of the first three channels instead).

No estimator ships with gen3d. Without ``estimator`` (or when its file is missing) the metric is **off**: one warning
names the option or file and the metric returns no key, never a made-up number. ``gen3d/evaluation`` never imports
``gen3d.models``: the estimator (``gen3d.models.depth_estimation.DepthEstimator``) is built by name through
:data:`gen3d.registry.TASK_UTILS`, which imports ``gen3d.models`` when first asked.
"""

import logging
import os.path as osp
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from torch import Tensor

from gen3d.registry import METRICS, TASK_UTILS

from .geometry_metric import stack_field

__all__ = ["GEN_DEPTH_KEY", "LERES_SHIFT", "GeneratedDepthError", "generated_depth_l1"]

GEN_DEPTH_KEY = "gen_depth_l1"
LERES_SHIFT = 0.01  # RelDepthModel.forward of the official depthpred_model.py: depth - depth.min() + 0.01
NORMALISE_GROUPS = ("batch", "image")
OFFICIAL_INPUT = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))  # RelDepthModel.forward: (x + 1) / 2, nothing else


def generated_depth_l1(fake_depth: Tensor, pred: Tensor, normalise: str = "batch", shift: float = LERES_SHIFT
                       ) -> Tensor:
    """Per-sample mean L1 of the official GeneratedDepthEval (module docstring).

    Args:
        fake_depth: ``(N, 1, H, W)`` generated normalised depth, about ``[-1, 1]``, larger = farther.
        pred: ``(N, 1, H, W)`` the estimator's depth-like map of the generated RGB (larger = farther).
        normalise: ``'batch'`` (official: min and max over all of ``pred``) or ``'image'`` (per sample).
        shift: Added after subtracting the minimum (LeReS's 0.01).

    Returns:
        ``(N,)`` float64 mean ``|(d + 1) / 2 - p / max(p)|`` of each sample.
    """
    if normalise not in NORMALISE_GROUPS:
        raise ValueError(f"normalise must be one of {NORMALISE_GROUPS}, got {normalise!r}")
    if fake_depth.dim() != 4 or fake_depth.shape[1] != 1 or pred.shape != fake_depth.shape:
        raise ValueError(f"fake_depth and pred must both be (N, 1, H, W), got {tuple(fake_depth.shape)} and "
                         f"{tuple(pred.shape)}")
    p = pred.double()
    dims = (1, 2, 3) if normalise == "image" else (0, 1, 2, 3)
    p = p - p.amin(dims, keepdim=True) + shift
    p = p / p.amax(dims, keepdim=True)
    return ((fake_depth.double() + 1) * 0.5 - p).abs().mean((1, 2, 3))


def _missing_file(cfg: dict) -> str | None:
    """The estimator's file or folder that does not exist, or None (then building it may still fail loudly)."""
    model = str(cfg.get("model", ""))
    if model.startswith("hub:"):
        folder = model[4:].rpartition(":")[0]
        if not osp.isfile(osp.join(folder, "hubconf.py")):
            return osp.join(folder, "hubconf.py")
    elif not osp.isfile(model):
        return model
    weights = cfg.get("weights")
    return weights if weights is not None and not osp.isfile(str(weights)) else None


@METRICS.register_module()
class GeneratedDepthError(BaseMetric):
    """L1 between the generated depth and a depth estimator run on the generated RGB (lower is better).

    Result key: ``gen_depth_l1``, the official GeneratedDepthEval number (module docstring); none when off.

    Per-sample inputs (the DepthGAN model's ``val_step``): ``fake_img`` uint8 ``(3, R, R)`` (or float ``[-1, 1]``;
    4 channels keep the first three) and ``fake_depth`` float32 ``(1, R, R)``, normalised, larger = farther.

    Args:
        estimator: Keyword arguments of ``DepthEstimator`` (``model='leres.onnx'``, ``output_kind``, ``input_size``,
            ...; :data:`OFFICIAL_INPUT` fills ``mean`` / ``std`` unless given), a model path, or a callable
            ``(N, 3, R, R) -> (N, 1, R, R)``. None: the metric is off.
        normalise: ``'batch'`` (official) or ``'image'``.
        shift: Offset after subtracting the minimum (official 0.01, in LeReS's units).
        image_key: Per-sample key of the generated RGB.
        depth_key: Per-sample key of the generated depth.
        collect_device: Device mmengine gathers results on.
        prefix: Key prefix.

    Raises:
        ValueError: An unknown ``normalise``; a malformed estimator file (named, from ``DepthEstimator``).
    """

    def __init__(self, estimator: dict | str | Callable[[Tensor], Tensor] | None = None, normalise: str = "batch",
                 shift: float = LERES_SHIFT, image_key: str = "fake_img", depth_key: str = "fake_depth",
                 collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if normalise not in NORMALISE_GROUPS:
            raise ValueError(f"normalise must be one of {NORMALISE_GROUPS}, got {normalise!r}")
        self.normalise, self.shift, self.image_key, self.depth_key = normalise, float(shift), image_key, depth_key
        self.estimator: Callable[[Tensor], Tensor] | None = None
        self.off_reason: str | None = None
        if estimator is None:
            self.off_reason = ("no estimator given: pass estimator=dict(model='<LeReS or MiDaS>.onnx') (an ONNX "
                               "export of LeReS, as the paper used)")
        elif callable(estimator):
            self.estimator = estimator
        else:
            cfg = dict(model=estimator) if isinstance(estimator, str) else dict(estimator)
            missing = _missing_file(cfg)
            if missing is not None:
                self.off_reason = f"the depth estimator file {missing!r} (estimator={cfg!r}) does not exist"
            else:
                self.estimator = self._build(cfg)
        if self.off_reason is not None:
            msg = f"{type(self).__name__} is off, {GEN_DEPTH_KEY} is not reported: {self.off_reason}"
            warnings.warn(msg, UserWarning, stacklevel=2)
            print_log(msg, logger="current", level=logging.WARNING)

    @staticmethod
    def _build(cfg: dict) -> Callable[[Tensor], Tensor]:
        cfg = {**OFFICIAL_INPUT, **cfg, "type": cfg.get("type", "DepthEstimator")}
        try:
            return TASK_UTILS.build(cfg)
        except KeyError as err:
            if "not in" not in str(err):
                raise
            raise KeyError(f"{cfg['type']} is not in gen3d's TASK_UTILS registry: gen3d.models must import "
                           "gen3d.models.depth_estimation (its __init__ registers it)") from err

    @property
    def enabled(self) -> bool:
        """Whether an estimator is available (otherwise no key is reported)."""
        return self.estimator is not None

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Run the estimator on this batch's generated RGB; store each sample's mean L1.

        Args:
            data_batch: The dataloader batch (unused).
            data_samples: Per-sample dicts with ``image_key`` and ``depth_key``.

        Raises:
            ValueError: A sample lacks either key (named).
        """
        if not self.enabled or not data_samples:
            return
        images = stack_field(data_samples, self.image_key)
        depth = stack_field(data_samples, self.depth_key, as_map=True)
        for key, value in ((self.image_key, images), (self.depth_key, depth)):
            if value is None:
                raise ValueError(f"{type(self).__name__} needs the per-sample key {key!r}, which a sample lacks")
        pred = self.estimator(images[:, :3])
        with torch.no_grad():
            rows = generated_depth_l1(depth.float().cpu(), pred.float().cpu(), self.normalise, self.shift)
        self.results.extend(np.array([v], dtype=np.float64) for v in rows.tolist())

    def evaluate(self, size: int) -> dict:
        """No key when off (warned once at construction); else mmengine's gather and :meth:`compute_metrics`."""
        if not self.enabled:
            return {}
        return super().evaluate(size)

    def compute_metrics(self, results: list[np.ndarray]) -> dict[str, float]:
        """Mean over all samples of all ranks (every sample has ``R x R`` pixels: the official pixel mean)."""
        if not results:
            return {}
        return {GEN_DEPTH_KEY: float(np.mean(np.concatenate(results)))}
