"""A frozen monocular depth estimator loaded from a file: DepthGAN's depth prior (arXiv 2202.08553).

DepthGAN trains on LSUN images whose depth was extracted with LeReS (``aim-uofa/AdelaiDepth``, ``LeReS/``), and its
GeneratedDepthEval runs LeReS again on generated images. Neither weights file ships with gen3d, and files are data:
loading one never executes code. Two backends:

* **ONNX** (the default; ``model='leres.onnx'``): an exported graph run by onnxruntime (LeReS, MiDaS and DPT export
  to ONNX). Only the graph is read; nothing is downloaded.
* **torch.hub from a local folder** (``model='hub:<dir>:<entry>'``), only on this explicit request:
  ``torch.hub.load(<dir>, <entry>, source='local')`` **imports and runs that folder's ``hubconf.py``**, so use it only
  for a checkout you trust. An optional ``weights`` file is read with ``torch.load(weights_only=True)`` (tensors only);
  pass ``hub_kwargs={'pretrained': False}`` (or what the entry takes) so the entry does not download weights itself.

Output convention: :class:`DepthEstimator` returns a **depth-like** map, larger = farther, at the input's size.
LeReS predicts depth (``output_kind='depth'``). MiDaS / DPT predict affine-invariant inverse depth
(``output_kind='disparity'``), turned into depth order by **negation** (``-disp``, the default): a monotone map that
keeps the prediction affine and never divides by the near-zero or negative values those models emit far away.
``disparity_to_depth='reciprocal'`` (``1 / max(disp, eps)``) is offered for models whose disparity is positive and
shift-free. Neither is metric depth; :func:`normalise_depth` then maps each image to DepthGAN's ``[-1, 1]``.

How the official data was normalised is not stated by VivianSZF/depthgan (its README only says LeReS was used).
The AdelaiDepth LeReS demo (``LeReS/Minist_Test/tools/test_depth.py``) stores ``d / max(d) * 60000`` as a 16-bit PNG,
where ``d = out - min(out) + 0.01`` (``RelDepthModel.inference``), and DepthGAN reads ``(v - 30000) / 30000``
(``datasets/rgbd_dataset.py``), i.e. ``2 d / max(d) - 1``: the two scales fit, which suggests (but does not prove)
that the official files are that demo's output. ``normalise_depth(mode='leres')`` reproduces it;
``mode='minmax'`` spans exactly ``[-1, 1]`` per image.
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gen3d.registry import TASK_UTILS

__all__ = ["DISPARITY_TO_DEPTH", "IMAGENET_MEAN", "IMAGENET_STD", "LERES_SHIFT", "NORMALISE_MODES", "OUTPUT_KINDS",
           "DepthEstimator", "normalise_depth"]

OUTPUT_KINDS = ("depth", "disparity")
DISPARITY_TO_DEPTH = ("negate", "reciprocal")
NORMALISE_MODES = ("minmax", "leres")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # LeReS / MiDaS input normalisation (AdelaiDepth test_depth.py)
IMAGENET_STD = (0.229, 0.224, 0.225)
LERES_SHIFT = 0.01  # RelDepthModel.inference: out - out.min() + 0.01
HUB_PREFIX = "hub:"
_ORT_FLOATS = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def normalise_depth(depth: Tensor, mode: str = "minmax", shift: float = LERES_SHIFT, eps: float = 1e-8) -> Tensor:
    """Per-image map of a depth-like prediction to DepthGAN's normalised depth (larger = farther).

    * ``'minmax'``: ``2 (d - min) / (max - min) - 1``, exactly ``[-1, 1]`` (a constant map becomes 0).
    * ``'leres'``: ``s = d - min + shift``, ``2 s / max(s) - 1`` in ``(-1, 1]``: the AdelaiDepth demo's 16-bit
      ``s / max(s) * 60000`` read back as ``(v - 30000) / 30000`` (module docstring). ``shift`` is in the
      estimator's own units (0.01 for LeReS).

    Args:
        depth: ``(N, 1, H, W)`` depth-like maps.
        mode: One of :data:`NORMALISE_MODES`.
        shift: ``'leres'`` offset added after subtracting the minimum.
        eps: Smallest range treated as non-constant.

    Returns:
        ``(N, 1, H, W)`` float32.

    Raises:
        ValueError: An unknown mode, a wrong shape, or non-finite values.
    """
    if mode not in NORMALISE_MODES:
        raise ValueError(f"normalise mode must be one of {NORMALISE_MODES}, got {mode!r}")
    if depth.dim() != 4 or depth.shape[1] != 1:
        raise ValueError(f"depth must be (N, 1, H, W), got {tuple(depth.shape)}")
    d = depth.float()
    if not torch.isfinite(d).all():
        raise ValueError("depth holds non-finite values (NaN or inf): the estimator's output is unusable")
    flat = d.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    if mode == "minmax":
        rng = hi - lo
        return torch.where(rng > eps, 2 * (d - lo) / rng.clamp_min(eps) - 1, torch.zeros_like(d))
    if shift <= 0:
        raise ValueError(f"normalise mode 'leres' needs shift > 0, got {shift}")
    s = d - lo + shift
    return 2 * s / s.flatten(1).max(1).values.view(-1, 1, 1, 1) - 1


def _size2(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    hw = (int(size), int(size)) if isinstance(size, int | np.integer) else tuple(int(v) for v in size)
    if len(hw) != 2 or min(hw) <= 0:
        raise ValueError(f"input_size must be a positive int or (H, W), got {size!r}")
    return hw


@TASK_UTILS.register_module()
class DepthEstimator:
    """Frozen monocular depth estimator from an ONNX file or a local torch.hub folder (module docstring).

    Args:
        model: ``'<file>.onnx'`` or ``'hub:<dir>:<entry>'`` (runs ``<dir>/hubconf.py``: explicit request only).
        output_kind: ``'depth'`` (larger = farther, LeReS) or ``'disparity'`` (inverse depth, MiDaS / DPT).
        input_size: Network input ``H = W`` or ``(H, W)``. None: the ONNX input's static size, else each batch's own.
        mean: Per-channel mean of the ``[0, 1]`` RGB input (default ImageNet, as LeReS and MiDaS were trained).
        std: Per-channel std.
        disparity_to_depth: ``'negate'`` or ``'reciprocal'`` (``output_kind='disparity'`` only).
        weights: hub backend: a state-dict file for the built module (tensors only).
        hub_kwargs: hub backend: keyword arguments of the entry.
        device: hub backend: torch device.
        providers: ONNX backend: onnxruntime execution providers (default: CUDA if available, then CPU).
        eps: ``'reciprocal'``: smallest disparity.

    Raises:
        FileNotFoundError: The ONNX file, hub folder, its ``hubconf.py`` or the weights file does not exist.
        ValueError: A malformed file or option (names it).
    """

    def __init__(self, model: str, output_kind: str = "depth", input_size: int | Sequence[int] | None = None,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 disparity_to_depth: str = "negate", weights: str | None = None,
                 hub_kwargs: dict[str, Any] | None = None, device: str = "cpu",
                 providers: Sequence[str] | None = None, eps: float = 1e-6) -> None:
        if output_kind not in OUTPUT_KINDS:
            raise ValueError(f"output_kind must be one of {OUTPUT_KINDS}, got {output_kind!r}")
        if disparity_to_depth not in DISPARITY_TO_DEPTH:
            raise ValueError(f"disparity_to_depth must be one of {DISPARITY_TO_DEPTH}, got {disparity_to_depth!r}")
        if len(mean) != 3 or len(std) != 3 or min(float(s) for s in std) <= 0:
            raise ValueError(f"mean and std must be 3 values each (std > 0), got mean={mean!r} std={std!r}")
        self.model, self.output_kind = str(model), output_kind
        self.disparity_to_depth, self.eps = disparity_to_depth, float(eps)
        self.mean = torch.tensor([float(v) for v in mean]).view(1, 3, 1, 1)
        self.std = torch.tensor([float(v) for v in std]).view(1, 3, 1, 1)
        self.input_size = _size2(input_size)
        self.static_batch: int | None = None
        if self.model.startswith(HUB_PREFIX):
            if providers is not None:
                raise ValueError("providers applies to an ONNX model, not to 'hub:' (use device=)")
            self.backend = "hub"
            self._load_hub(weights, hub_kwargs or {}, device)
        else:
            if weights is not None or hub_kwargs:
                raise ValueError(f"weights / hub_kwargs apply to 'hub:<dir>:<entry>' models; {self.model} is an ONNX "
                                 "file that holds its weights")
            self.backend = "onnx"
            self._load_onnx(providers)

    def _load_onnx(self, providers: Sequence[str] | None) -> None:
        path = self.model
        if not osp.isfile(path):
            raise FileNotFoundError(f"depth estimator ONNX file {path!r} does not exist (export LeReS / MiDaS to ONNX "
                                    "and pass its path)")
        import onnxruntime as ort

        available = ort.get_available_providers()
        providers = list(providers or [p for p in ("CUDAExecutionProvider",) if p in available]
                         + ["CPUExecutionProvider"])
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(path, sess_options=options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise ValueError(f"depth estimator file {path} is not a loadable ONNX model: {err}") from err
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].type not in _ORT_FLOATS:
            raise ValueError(f"depth estimator {path} must take one float (N, 3, H, W) input, it takes "
                             f"{[(i.name, i.shape, i.type) for i in inputs]}")
        self.input_name, self.input_dtype = inputs[0].name, _ORT_FLOATS[inputs[0].type]
        n, c, h, w = (d if isinstance(d, int) and d > 0 else None for d in inputs[0].shape)
        if c not in (None, 3):
            raise ValueError(f"depth estimator {path} takes {c} input channels, expected 3 (RGB)")
        self.static_batch = n
        if h is not None and w is not None:
            if self.input_size is not None and self.input_size != (h, w):
                raise ValueError(f"input_size {self.input_size} differs from the static input {(h, w)} of {path}")
            self.input_size = (h, w)

    def _load_hub(self, weights: str | None, hub_kwargs: dict[str, Any], device: str) -> None:
        body = self.model[len(HUB_PREFIX):]
        folder, sep, entry = body.rpartition(":")
        if not sep or not folder or not entry:
            raise ValueError(f"hub model must read 'hub:<dir>:<entry>', got {self.model!r}")
        if not osp.isfile(osp.join(folder, "hubconf.py")):
            raise FileNotFoundError(f"{osp.join(folder, 'hubconf.py')} does not exist (model {self.model!r} names a "
                                    "local torch.hub folder)")
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f"depth estimator weights file {weights!r} does not exist")
        net = torch.hub.load(folder, entry, source="local", **hub_kwargs)  # runs hubconf.py: explicit request only
        if weights is not None:
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True)
            except Exception as err:
                raise ValueError(f"depth estimator weights {weights} are not a tensors-only checkpoint: {err}") from err
            if isinstance(state, dict) and len(state) == 1 and isinstance(next(iter(state.values())), dict):
                state = next(iter(state.values()))  # {'state_dict': ...}, LeReS's {'depth_model': ...}
            state = {k.removeprefix("module."): v for k, v in state.items()}
            try:
                net.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(f"depth estimator weights {weights} do not fit {entry}: {err}") from err
        self.device = torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)

    def _run(self, x: Tensor) -> Tensor:
        """Network on normalised ``(N, 3, h, w)`` -> ``(N, 1, h', w')`` raw output."""
        if self.backend == "hub":
            with torch.no_grad():
                out = self.net(x.to(self.device))
            out = out[0] if isinstance(out, list | tuple) else out
            return out.detach().float().cpu()
        b = self.static_batch or x.shape[0]
        outs = []
        for i in range(0, x.shape[0], b):
            chunk = x[i:i + b]
            pad = b - chunk.shape[0]
            if pad:  # a static batch size: repeat the last image, drop its outputs
                chunk = torch.cat([chunk, chunk[-1:].expand(pad, -1, -1, -1)])
            out = self.session.run(None, {self.input_name: chunk.numpy().astype(self.input_dtype)})[0]
            outs.append(torch.from_numpy(np.asarray(out, np.float32))[:b - pad])
        return torch.cat(outs)

    def __call__(self, images: Tensor) -> Tensor:
        """Depth-like map of each image, larger = farther, resized bilinearly to the image size.

        Args:
            images: ``(N, 3, H, W)`` uint8 ``[0, 255]`` or float ``[-1, 1]`` (the GAN convention) RGB.

        Returns:
            ``(N, 1, H, W)`` float32 (the estimator's units; :func:`normalise_depth` maps it to ``[-1, 1]``).
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        x = images.float().cpu() / 255 if images.dtype == torch.uint8 else (images.detach().float().cpu() + 1) / 2
        if self.input_size is not None and self.input_size != (h, w):
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)
        out = self._run((x - self.mean) / self.std)
        if out.dim() == 3:
            out = out[:, None]
        if out.dim() != 4 or out.shape[1] != 1 or out.shape[0] != images.shape[0]:
            raise ValueError(f"depth estimator {self.model} returned shape {tuple(out.shape)} for {images.shape[0]} "
                             "images; expected (N, 1, h, w) or (N, h, w)")
        if self.output_kind == "disparity":
            out = -out if self.disparity_to_depth == "negate" else 1.0 / out.clamp_min(self.eps)
        if out.shape[-2:] != (h, w):
            out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        return out.contiguous()

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(model={self.model!r}, output_kind={self.output_kind!r}, "
                f"input_size={self.input_size})")
