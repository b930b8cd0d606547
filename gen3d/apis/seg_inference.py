"""Segmentation inference on PyTorch: :func:`inference_segmentor` and the checkpoint predictor of ``tools/infer.py``.

A segmentation checkpoint loads with :func:`gen3d.apis.inference.init_model` like any other. The network that runs
is the model's test path (``model.test_step``), i.e. what ``tools/test.py`` measured: the EMA teacher of a U2PL
checkpoint (``eval_model='teacher'``), the plain ``EncoderDecoder`` otherwise. A bundle exports the *student*
(:func:`gen3d.deploy.segmentation_wrapper.segmentor_of`), so for a teacher-student checkpoint a bundle and the
checkpoint are two networks; for an ``EncoderDecoder`` they are the same one (the runtime's parity test).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from torch import nn


def is_segmentor(model: nn.Module) -> bool:
    """Whether ``model`` is a semantic segmentor: an ``EncoderDecoder`` (a ``decode_head``) or a method around one."""
    if hasattr(model, "decode_head"):
        return True
    return any(hasattr(getattr(model, k, None), "decode_head") for k in ("student", "teacher", "model"))


def seg_class_names(model: nn.Module) -> list[str]:
    """Class names of a segmentor: the checkpoint's ``dataset_meta``, its config's dataset, else ``class_<k>``.

    The number of classes is the decode head's; names that do not match it are dropped.
    """
    from gen3d.deploy.segmentation_wrapper import segmentor_of

    num = int(segmentor_of(model)[0].num_classes)
    names = list((getattr(model, "dataset_meta", None) or {}).get("classes") or [])
    if not names:
        cfg = getattr(model, "cfg", None)
        for split in ("test_dataloader", "val_dataloader"):
            meta = ((cfg.get(split) or {}).get("dataset") or {}).get("metainfo") if cfg is not None else None
            names = list((meta or {}).get("classes") or [])
            if names:
                break
    names = [str(n) for n in names]
    return names if len(names) == num else [f"class_{k}" for k in range(num)]


def _test_pipeline(model: nn.Module) -> Compose:
    """The config's test pipeline without the file-loading steps (images come as arrays)."""
    cfg = model.cfg
    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader")
    if not loader:
        raise ValueError("the model config has no test_dataloader or val_dataloader pipeline to run images through")
    return Compose([s for s in loader["dataset"]["pipeline"] if not str(s["type"]).startswith("Load")])


@torch.no_grad()
def inference_segmentor(model: nn.Module, images: Sequence[np.ndarray], paths: Sequence[str] | None = None,
                        batch_size: int = 8) -> list:
    """Run a segmentor on RGB images with the test pipeline of its config (minus file loading).

    Images of the same size are batched together (a batch of mixed sizes would be padded, which changes the
    convolutions near the padded border); each prediction is at its image's own size.

    Args:
        model: From :func:`gen3d.apis.inference.init_model` (``model.cfg`` set), in eval mode.
        images: ``(H, W, 3)`` uint8 RGB arrays.
        paths: Names recorded in the samples (default ``image_<i>``).
        batch_size: Images per forward pass.

    Returns:
        One ``SegDataSample`` per image, in order, with ``pred_sem_seg`` ``(H, W)`` long (the label map) and
        ``seg_logits`` ``(C, H, W)`` float (pre-softmax class scores), on CPU.

    Raises:
        ValueError: An image that is not ``(H, W, 3)`` uint8.
    """
    from mmengine.registry import init_default_scope

    init_default_scope(model.cfg.get("default_scope", "gen3d"))
    pipeline = _test_pipeline(model)
    packed = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"image {i}: expected (H, W, 3) uint8 RGB, got {img.dtype} {img.shape}")
        packed.append(pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                                    img_path=paths[i] if paths else f"image_{i}")))
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(packed):
        groups.setdefault(tuple(p["inputs"].shape), []).append(i)
    out: list = [None] * len(packed)
    for members in groups.values():
        for start in range(0, len(members), batch_size):
            chunk = members[start:start + batch_size]
            for i, sample in zip(chunk, model.test_step(pseudo_collate([packed[i] for i in chunk]))):
                out[i] = sample
    return out


class SegCheckpointPredictor:
    """A PyTorch segmentation checkpoint behind the runtime's predictor interface, for the one inspection loop.

    :func:`gen3d.runtime.run.run_inspection` runs it as it runs a segmentation bundle: the same rows
    (``segmentation.csv``), label-map PNGs, palette overlays and latency column.

    Args:
        model: A segmentor from :func:`gen3d.apis.inference.init_model`.
        palette: uint8 ``(C, 3)`` RGB; default: the dataset's ``palette`` where the checkpoint has one, else the
            fixed colormap of the runtime (:func:`gen3d.runtime.colormaps.label_colormap`).
    """

    task = "segmentation"

    def __init__(self, model: nn.Module, palette: np.ndarray | None = None) -> None:
        from gen3d.runtime.colormaps import label_colormap

        self.model = model
        self.classes = seg_class_names(model)
        meta_palette = (getattr(model, "dataset_meta", None) or {}).get("palette")
        if palette is None and meta_palette is not None and len(meta_palette) >= len(self.classes):
            palette = np.asarray(meta_palette)[:len(self.classes)]
        self.palette = np.asarray(palette if palette is not None else label_colormap(len(self.classes)), np.uint8)
        self.backend_name = f"pytorch-{next(model.parameters()).device.type}"

    def resolve_class(self, class_name: str | None) -> None:
        """``None``; a class name is refused, as by :meth:`gen3d.runtime.SegmentationRuntime.resolve_class`."""
        if class_name is not None:
            raise ValueError(f"--class-name {class_name!r} is for anomaly models; a segmentor labels every pixel "
                             f"with one of {self.classes}")

    def overlay(self, rgb: np.ndarray, result: object) -> np.ndarray:
        """Image | palette overlay (:func:`gen3d.runtime.overlay.draw_seg_overlay`)."""
        from gen3d.runtime.overlay import draw_seg_overlay

        return draw_seg_overlay(rgb, result.label_map, self.palette, self.classes, result.fractions)

    def predict(self, frames: Sequence[np.ndarray], class_names: object = None,
                sources: Sequence[str] | None = None) -> list:
        """Label ``(H, W, 3)`` uint8 RGB frames; one :class:`gen3d.runtime.segmentation.SegResult` per frame."""
        from gen3d.runtime.segmentation import seg_result

        sources = list(sources) if sources is not None else [f"frame_{i}" for i in range(len(frames))]
        start = time.perf_counter()
        samples = inference_segmentor(self.model, list(frames), sources)
        latency = (time.perf_counter() - start) * 1000.0 / max(len(frames), 1)
        return [seg_result(src, s.pred_sem_seg.cpu().numpy(), self.classes, latency)
                for src, s in zip(sources, samples)]
