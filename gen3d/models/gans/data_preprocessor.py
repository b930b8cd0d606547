"""Data preprocessor of the GAN family: uint8 images -> float ``[-1, 1]``, keeping the uint8 reals for metrics.

Posed datasets (:class:`~gen3d.datasets.gan.PoseImageDataset` through ``PackPoseInputs``) also carry geometry in
``data_samples``; it is stacked onto the device as ``real_depth``, ``real_normal``, ``real_mask`` and ``real_pose``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from gen3d.registry import MODELS

#: uint8 ``[0, 255]`` -> ``[-1, 1]``: ``x / 127.5 - 1`` (stylegan2-ada ``training_loop.py`` feeds D this range).
PIXEL_HALF_RANGE = 127.5
#: ``data_samples`` key -> (batch key, channels of a map or None for a vector) of the geometry PackPoseInputs packs.
GEOMETRY_FIELDS = {"depth": ("real_depth", 1), "normal": ("real_normal", 3), "mask": ("real_mask", 1),
                   "pose": ("real_pose", None)}


def sample_field(data_samples: Any, key: str, num: int, default: Any = None) -> list:
    """Read one field of every sample, whatever the collate function made of the samples.

    Args:
        data_samples: A list of dicts (one per sample), a dict of lists or tensors (``pseudo_collate`` /
            ``default_collate`` of :class:`~gen3d.datasets.transforms.PackGANInputs` dicts), or None.
        key: Field name, e.g. ``'gt_label'`` or ``'sample_idx'``.
        num: Batch size ``N``.
        default: Value for samples without the field.

    Returns:
        ``N`` values (plain Python numbers where the field held tensors).
    """
    if isinstance(data_samples, dict):
        values = data_samples.get(key)
        values = [default] * num if values is None else values
    elif isinstance(data_samples, Sequence) and len(data_samples) == num:
        values = [s.get(key, default) if isinstance(s, dict) else getattr(s, key, default) for s in data_samples]
    else:
        values = [default] * num
    if isinstance(values, Tensor):
        values = values.tolist()
    values = [v.item() if isinstance(v, Tensor) else v for v in values]
    if len(values) != num:
        raise ValueError(f"data_samples[{key!r}] holds {len(values)} values for a batch of {num}")
    return values


def stack_geometry(data_samples: Any, key: str, num: int) -> Tensor | None:
    """Stack one geometry field of every sample; None when any sample lacks it.

    Args:
        data_samples: As :func:`sample_field` (a list of per-sample dicts, or a dict of lists / stacked tensors).
        key: ``'depth'``, ``'normal'``, ``'mask'`` or ``'pose'``.
        num: Batch size ``N``.

    Returns:
        Float ``(N, ...)``: maps ``(N, C, H, W)`` (an ``(H, W)`` map gets its channel), poses ``(N, 2)``.
    """
    if isinstance(data_samples, dict):
        values = data_samples.get(key)
    elif isinstance(data_samples, Sequence) and len(data_samples) == num:
        values = [s.get(key) if isinstance(s, dict) else getattr(s, key, None) for s in data_samples]
    else:
        return None
    if values is None or (not isinstance(values, Tensor) and any(v is None for v in values)):
        return None
    stacked = values if isinstance(values, Tensor) else torch.stack([torch.as_tensor(v) for v in values])
    if len(stacked) != num:
        raise ValueError(f"data_samples[{key!r}] holds {len(stacked)} values for a batch of {num}")
    channels = GEOMETRY_FIELDS[key][1]
    if channels == 1 and stacked.dim() == 3:
        stacked = stacked[:, None]
    return stacked.float()


@MODELS.register_module()
class GANDataPreprocessor(BaseDataPreprocessor):
    """Stack uint8 ``[C, H, W]`` images and map them to float ``[-1, 1]``; carry posed datasets' geometry.

    ``forward`` returns ``{'inputs': float [N, C, H, W] in [-1, 1], 'real_img': uint8 [N, C, H, W] (the same
    images, unnormalised, for FID/KID), 'data_samples': as given}``, plus, where every sample has it,
    ``real_depth [N, 1, H, W]`` (ray distance), ``real_normal [N, 3, H, W]`` (camera space), ``real_mask [N, 1, H, W]``
    and ``real_pose [N, 2]`` ``(pitch, yaw)``, float on the model's device. Channels are not reordered: the loaders
    already give RGB.

    Args:
        non_blocking: Passed to :meth:`BaseDataPreprocessor.cast_data`.
    """

    def __init__(self, non_blocking: bool = False) -> None:
        super().__init__(non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict[str, Any]:
        """Normalise a batch.

        Args:
            data: ``{'inputs': list of uint8 [C, H, W] or uint8 [N, C, H, W], 'data_samples': ...}``.
            training: Unused (no train-only step).

        Returns:
            ``{'inputs': [N, C, H, W] float, 'real_img': [N, C, H, W] uint8, 'data_samples'}`` and the geometry
            keys present (class docstring).

        Raises:
            TypeError: Images that are not uint8, or of different sizes.
        """
        inputs = data["inputs"]
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) != 1:
                raise TypeError(f"GANDataPreprocessor needs images of one size, got shapes {sorted(shapes)}")
            inputs = torch.stack(list(inputs))
        if not isinstance(inputs, Tensor) or inputs.dtype != torch.uint8 or inputs.ndim != 4:
            raise TypeError("GANDataPreprocessor expects uint8 [C, H, W] images (or a uint8 [N, C, H, W] batch), "
                            f"got {getattr(inputs, 'dtype', type(inputs))} {tuple(getattr(inputs, 'shape', ()))}")
        real = self.cast_data(inputs)
        samples = data.get("data_samples")
        out = {"inputs": real.float() / PIXEL_HALF_RANGE - 1.0, "real_img": real,
               "data_samples": self.cast_data(samples)}
        for key, (name, _) in GEOMETRY_FIELDS.items():
            value = stack_geometry(samples, key, real.shape[0])
            if value is not None:
                out[name] = self.cast_data(value)
        return out
