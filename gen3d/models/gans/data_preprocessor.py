"""Data preprocessor of the GAN family: uint8 images -> float ``[-1, 1]``, keeping the uint8 reals for metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from gen3d.registry import MODELS

#: uint8 ``[0, 255]`` -> ``[-1, 1]``: ``x / 127.5 - 1`` (stylegan2-ada ``training_loop.py`` feeds D this range).
PIXEL_HALF_RANGE = 127.5


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


@MODELS.register_module()
class GANDataPreprocessor(BaseDataPreprocessor):
    """Stack uint8 ``[C, H, W]`` images and map them to float ``[-1, 1]``.

    ``forward`` returns ``{'inputs': float [N, C, H, W] in [-1, 1], 'real_img': uint8 [N, C, H, W] (the same
    images, unnormalised, for FID/KID), 'data_samples': as given}``. Channels are not reordered: the loaders
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
            ``{'inputs': [N, C, H, W] float, 'real_img': [N, C, H, W] uint8, 'data_samples'}``.

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
        return {"inputs": real.float() / PIXEL_HALF_RANGE - 1.0, "real_img": real,
                "data_samples": self.cast_data(data.get("data_samples"))}
