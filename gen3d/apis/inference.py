"""Load a trained anomaly model from its checkpoint alone and run it on images, folders and videos."""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from torch import nn

from gen3d.utils.checkpoint import load_local_checkpoint

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


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
        config: Config file or object; ``None`` uses ``checkpoint['meta']['cfg']``.
        device: Torch device.

    Returns:
        The model in eval mode, with ``model.cfg`` and ``model.thresholds`` set.

    Raises:
        ValueError: The checkpoint has no config and none was given, or it holds another model type.
    """
    from gen3d.registry import MODELS

    ckpt = load_local_checkpoint(checkpoint, map_location="cpu")
    meta = ckpt.get("meta", {})
    if config is None:
        if "cfg" not in meta:
            raise ValueError(f"Checkpoint {checkpoint} carries no config; pass the config file as well.")
        cfg = Config.fromstring(meta["cfg"], file_format=".py")
    else:
        cfg = config if isinstance(config, Config) else Config.fromfile(config)
    init_default_scope(cfg.get("default_scope", "gen3d"))
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model)
    saved_type, wanted = meta.get("model_type"), str(model_cfg.get("type", "")).split(".")[-1]
    if saved_type and saved_type != wanted:
        raise ValueError(f"Checkpoint {checkpoint} holds a {saved_type} model, but the config builds {wanted}.")
    _no_pretrained(model_cfg)
    model_cfg.pop("feature_cache", None)
    model = MODELS.build(model_cfg)
    state = ckpt.get("state_dict", ckpt)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"Checkpoint {checkpoint} does not fit the {wanted} model of the config: "
                         f"missing keys {missing[:5]}..., unexpected keys {unexpected[:5]}...")
    model.thresholds = {k: dict(v) for k, v in meta.get("thresholds", {}).items()}
    model.cfg = cfg
    return model.to(device).eval()


@dataclass
class Frame:
    """One image to inspect: its RGB pixels or the reason it could not be decoded."""

    source: str
    image: np.ndarray | None
    error: str | None = None


def iter_frames(source: str) -> Iterator[Frame]:
    """Yield frames from an image file, a folder (recursively, sorted), a video file or a camera index/URL.

    A frame that fails to decode is yielded with ``image=None`` and the reason, and the stream goes on.
    """
    import cv2

    from gen3d.datasets.transforms.loading import imread_rgb

    if osp.isdir(source):
        files = sorted(osp.join(d, f) for d, _, fs in os.walk(source) for f in fs
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise FileNotFoundError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found under {source}")
    elif osp.isfile(source) and source.lower().endswith(IMAGE_EXTENSIONS):
        files = [source]
    else:
        files = None
    if files is not None:
        for path in files:
            try:
                yield Frame(path, imread_rgb(path))
            except (OSError, ValueError) as err:
                yield Frame(path, None, str(err))
        return
    is_file = osp.isfile(source)
    if not is_file and not source.isdigit() and "://" not in source:
        raise FileNotFoundError(f"Input not found: {source} (expected an image, a folder, a video or a camera)")
    cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise OSError(f"Cannot open video or camera {source}")
    index, failures = 0, 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                if is_file or failures >= 30:  # end of file, or a camera that stopped delivering
                    break
                failures += 1
                yield Frame(f"{source}#{index}", None, "frame could not be read")
                index += 1
                continue
            failures = 0
            yield Frame(f"{source}#{index}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        cap.release()


def guess_class(path: str, classes: Sequence[str]) -> str | None:
    """The class of an image from its path (a folder named like a known class), or the only class."""
    if len(classes) == 1:
        return classes[0]
    parts = set(osp.normpath(path).split(os.sep))
    found = [c for c in classes if c in parts]
    return found[0] if len(found) == 1 else None


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
