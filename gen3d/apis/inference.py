"""Load a trained model from its checkpoint alone and run it on images, folders and videos.

One inference call per family: :func:`inference_anomaly` (anomaly detectors), :func:`inference_segmentor`
(segmentors, :mod:`gen3d.apis.seg_inference`), :func:`gen3d.apis.gan_inference.generate` (generators, loaded by
``load_generator``); :func:`load_predictor` puts an anomaly or segmentation checkpoint behind the runtime's
predictor interface (``tools/infer.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from torch import nn

from gen3d.apis.seg_inference import SegCheckpointPredictor, inference_segmentor, is_segmentor
from gen3d.runtime.sources import IMAGE_EXTENSIONS  # noqa: F401 - re-exported: the files a folder input lists
from gen3d.utils.checkpoint import load_local_checkpoint
from gen3d.utils.safe_config import config_from_text

__all__ = ["CheckpointPredictor", "SegCheckpointPredictor", "inference_anomaly", "inference_segmentor", "init_model",
           "init_anomaly_model", "is_anomaly_model", "is_segmentor", "load_predictor"]


def _no_pretrained(node: object) -> None:
    """Weights come from the checkpoint: switch off any pretrained download or file in the model config."""
    if isinstance(node, dict):
        if "pretrained" in node:
            node["pretrained"] = False
        for value in node.values():
            _no_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _no_pretrained(value)


def init_model(checkpoint: str, config: str | Config | None = None, device: str = "cpu") -> nn.Module:
    """Build a model and load its checkpoint (weights, thresholds); the config defaults to the one saved in it.

    Args:
        checkpoint: ``.pth`` written by ``tools/train.py``.
        config: Config file or object; ``None`` uses ``checkpoint['meta']['cfg']``, read as data (never executed:
            a saved config that holds code is refused, see :func:`gen3d.utils.safe_config.config_from_text`).
        device: Torch device.

    Returns:
        The model in eval mode, with ``model.cfg``, ``model.thresholds`` (anomaly validation; ``{}`` otherwise) and
        ``model.dataset_meta`` (the training set's ``classes`` / ``palette`` saved by the Runner, or ``{}``) set.

    Raises:
        ValueError: The checkpoint has no config and none was given, or it holds another model type.
        UnsafeConfigError: The config saved in the checkpoint holds code (a ``ValueError`` too).
    """
    from gen3d.registry import MODELS

    ckpt = load_local_checkpoint(checkpoint, map_location="cpu")
    meta = ckpt.get("meta", {})
    if config is None:
        if "cfg" not in meta:
            raise ValueError(f"Checkpoint {checkpoint} carries no config; pass the config file as well.")
        cfg = config_from_text(meta["cfg"], source=f"checkpoint {checkpoint} (meta.cfg)")
    else:
        cfg = config if isinstance(config, Config) else Config.fromfile(config)
    init_default_scope(cfg.get("default_scope", "gen3d"))
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model)
    saved_type, wanted = meta.get("model_type"), str(model_cfg.get("type", "")).split(".")[-1]
    if saved_type and saved_type != wanted:
        raise ValueError(f"Checkpoint {checkpoint} holds a {saved_type} model, but the config builds {wanted}.")
    if config is None and cfg.get("custom_imports") and MODELS.get(model_cfg.get("type")) is None:
        raise ValueError(f"Checkpoint {checkpoint} builds {wanted} from custom_imports {cfg.custom_imports}, which a "
                         "saved config does not import (that would run code); pass the config file as well.")
    _no_pretrained(model_cfg)
    model_cfg.pop("feature_cache", None)
    model = MODELS.build(model_cfg)
    state = ckpt.get("state_dict", ckpt)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"Checkpoint {checkpoint} does not fit the {wanted} model of the config: "
                         f"missing keys {missing[:5]}..., unexpected keys {unexpected[:5]}...")
    model.thresholds = {k: dict(v) for k, v in meta.get("thresholds", {}).items()}
    model.dataset_meta = dict(meta.get("dataset_meta") or {})
    model.cfg = cfg
    return model.to(device).eval()


def is_anomaly_model(model: nn.Module) -> bool:
    """Whether ``model`` is an anomaly detector: one whose tensor path ends in an ``anomaly_map`` head.

    UniAD's ``mode='tensor'`` returns ``(anomaly_map (B, 1, H, W), pred_score (B,))`` from its ``anomaly_map``
    sub-module; GANs and segmentors have no such head.
    """
    return isinstance(getattr(model, "anomaly_map", None), nn.Module) and hasattr(model, "thresholds")


def init_anomaly_model(checkpoint: str, config: str | Config | None = None, device: str = "cpu") -> nn.Module:
    """:func:`init_model` for an anomaly checkpoint; refuses one that holds another kind of model.

    Args:
        checkpoint: ``.pth`` written by ``tools/train.py`` from an anomaly config.
        config: Config file or object; ``None`` uses the one saved in the checkpoint.
        device: Torch device.

    Returns:
        The model in eval mode, with ``model.cfg`` and ``model.thresholds`` set.

    Raises:
        ValueError: The checkpoint holds no anomaly detector (a GAN or a segmentor, for example); the message
            names the checkpoint and the model type it holds.
    """
    model = init_model(checkpoint, config, device)
    if not is_anomaly_model(model):
        raise ValueError(f"Checkpoint {checkpoint} holds a {type(model).__name__} model, not an anomaly detector; "
                         "tools/infer.py runs anomaly checkpoints (UniAD), segmentation checkpoints and deploy "
                         "bundles. For a GAN use tools/gan/generate.py.")
    return model


def load_predictor(checkpoint: str, config: str | Config | None = None, device: str = "cpu",
                   thresholds: dict[str, dict[str, float]] | None = None) -> object:
    """The inspection-loop predictor of a checkpoint: :class:`CheckpointPredictor` or a segmentation one.

    Args:
        checkpoint: ``.pth`` written by ``tools/train.py`` (an anomaly detector or a segmentor).
        config: Config file or object; ``None`` uses the one saved in the checkpoint.
        device: Torch device.
        thresholds: Anomaly only: ``{class: {'image': t, 'pixel': t}}`` overriding the checkpoint's.

    Returns:
        A :class:`CheckpointPredictor` or a :class:`gen3d.apis.seg_inference.SegCheckpointPredictor`.

    Raises:
        ValueError: The checkpoint holds neither (a GAN, for example), or ``thresholds`` for a segmentor.
    """
    model = init_model(checkpoint, config, device)
    if is_anomaly_model(model):
        return CheckpointPredictor(model, thresholds)
    if is_segmentor(model):
        if thresholds:
            raise ValueError(f"--thresholds is for anomaly checkpoints; {checkpoint} holds a segmentor")
        return SegCheckpointPredictor(model)
    raise ValueError(f"Checkpoint {checkpoint} holds a {type(model).__name__} model, not an anomaly detector nor a "
                     "segmentor; tools/infer.py runs those and deploy bundles. For a GAN use tools/gan/generate.py.")


class CheckpointPredictor:
    """A PyTorch anomaly checkpoint behind the runtime's predictor interface, for the one inspection loop.

    :func:`gen3d.runtime.run.run_inspection` runs bundles and checkpoints alike through ``classes``,
    ``resolve_class`` and ``predict``; the raw score and map of the model go through the same post-processing as a
    raw bundle (:func:`gen3d.runtime.anomaly.apply_thresholds`), so ``score`` is ``clip(raw / (2 *
    image_threshold), 0, 1)`` (0.5 = the threshold) on both paths, and ``latency_ms`` is measured the same way.

    Args:
        model: An anomaly model from :func:`init_anomaly_model` (``thresholds`` from its validation).
        thresholds: ``{class: {'image': t, 'pixel': t}}`` overriding the checkpoint's.
    """

    def __init__(self, model: nn.Module, thresholds: dict[str, dict[str, float]] | None = None) -> None:
        self.model = model
        self._thresholds = {c: {"image": t.get("image"), "pixel": t.get("pixel")}
                            for c, t in (getattr(model, "thresholds", None) or {}).items()}
        for cls_name, thr in (thresholds or {}).items():
            self._thresholds.setdefault(cls_name, {"image": None, "pixel": None}).update(thr)
        self.classes = sorted(self._thresholds)
        self.backend_name = f"pytorch-{next(model.parameters()).device.type}"

    @property
    def thresholds(self) -> dict[str, dict[str, float | None]]:
        """A copy of the thresholds in use."""
        return {k: dict(v) for k, v in self._thresholds.items()}

    def resolve_class(self, class_name: str | None) -> str | None:
        """The known class meant by ``class_name`` (as :meth:`gen3d.runtime.AnomalyRuntime.resolve_class`).

        Raises:
            ValueError: Unknown class, or ``None`` with several classes; lists the known classes.
        """
        if class_name is None:
            if len(self.classes) <= 1:
                return self.classes[0] if self.classes else None
            raise ValueError(f"no product class given; this checkpoint knows {self.classes} (pass --class-name)")
        if self.classes and class_name not in self.classes:
            raise ValueError(f"unknown class {class_name!r}; this checkpoint knows: {self.classes}")
        return class_name

    def predict(self, frames: Sequence[np.ndarray], class_names: Sequence[str | None],
                sources: Sequence[str]) -> list:
        """Judge ``(H, W, 3)`` uint8 RGB frames; returns one :class:`gen3d.runtime.anomaly.Result` per frame."""
        import time

        from gen3d.runtime.anomaly import Result, apply_thresholds

        start = time.perf_counter()
        samples = inference_anomaly(self.model, list(frames), list(class_names), list(sources))
        latency = (time.perf_counter() - start) * 1000.0 / max(len(frames), 1)
        results = []
        for source, name, sample in zip(sources, class_names, samples):
            amap = sample.anomaly_map.detach().float().cpu().numpy()
            res = apply_thresholds(Result(source, name), float(sample.pred_score),
                                   amap.reshape(amap.shape[-2:]), self._thresholds.get(name or "", {}))
            res.latency_ms = latency
            results.append(res)
        return results


@torch.no_grad()
def inference_anomaly(model: nn.Module, images: Sequence[np.ndarray], cls_names: Sequence[str | None],
                      paths: Sequence[str] | None = None) -> list:
    """Run an anomaly model on RGB images with the test pipeline of its config (minus file loading).

    Args:
        model: From :func:`init_model`.
        images: ``(H, W, 3)`` uint8 RGB arrays.
        cls_names: Product class of each image (``None``: unknown, no verdict).
        paths: Names recorded in the samples.

    Returns:
        ``AnomalyDataSample`` list with ``pred_score``, ``anomaly_map`` and, where the class has thresholds,
        ``pred_label`` and ``pred_mask``.
    """
    steps = [s for s in model.cfg.test_dataloader.dataset.pipeline if not str(s["type"]).startswith("Load")]
    pipeline = Compose(steps)
    batch = []
    for i, img in enumerate(images):
        results = dict(img=img, gt_label=-1, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                       img_path=paths[i] if paths else f"image_{i}", defect_type="unknown")
        if cls_names[i] is not None:
            results["cls_name"] = cls_names[i]
        batch.append(pipeline(results))
    return model.test_step(pseudo_collate(batch))
