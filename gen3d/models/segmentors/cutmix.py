"""CutMix on unlabeled batches as U2PL applies it (arXiv 2203.03884 Sec. 4.1; code ``dataset/augmentation.py``).

With probability ``prob`` per batch, image ``i`` receives a box pasted from image ``(i + 1) mod B``. The box covers
``area_ratio`` of the image, its width is drawn from ``U(W * area_ratio, W)`` and its height is ``area / width``; the
position is uniform. The very same box mixes every map passed along (pseudo-labels, confidences, entropies), so
images and targets stay consistent.
"""

import torch
from torch import Tensor

#: U2PL: CutMix is applied to a batch with probability 0.5 (``apply_aug: cutmix``, ``cut_mix`` helper).
CUTMIX_PROB = 0.5
#: U2PL: the pasted box covers half of the image.
CUTMIX_AREA_RATIO = 0.5


def cutmix_boxes(
    batch: int, height: int, width: int, area_ratio: float = CUTMIX_AREA_RATIO,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one box per image.

    Args:
        batch: Number of images.
        height: Image height.
        width: Image width.
        area_ratio: Box area / image area.
        generator: CPU generator for reproducible draws.

    Returns:
        ``(B, 4)`` long boxes ``(y0, y1, x0, x1)``, end-exclusive.
    """
    area = area_ratio * height * width
    rand = torch.rand(batch, 3, generator=generator)
    box_w = (width * area_ratio + rand[:, 0] * width * (1 - area_ratio)).clamp(1, width)
    box_h = (area / box_w).clamp(1, height)
    box_w, box_h = box_w.round().long(), box_h.round().long()
    y0 = (rand[:, 1] * (height - box_h + 1).float()).long().clamp(min=0)
    x0 = (rand[:, 2] * (width - box_w + 1).float()).long().clamp(min=0)
    return torch.stack([y0, y0 + box_h, x0, x0 + box_w], dim=1)


def cutmix_mask(boxes: Tensor, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """Rasterise boxes into a mask, True inside the pasted box.

    Args:
        boxes: ``(B, 4)`` from :func:`cutmix_boxes`.
        height: Map height.
        width: Map width.
        device: Device of the mask.

    Returns:
        ``(B, H, W)`` bool.
    """
    ys = torch.arange(height, device=device).view(1, height, 1)
    xs = torch.arange(width, device=device).view(1, 1, width)
    b = boxes.to(device)
    inside_y = (ys >= b[:, 0, None, None]) & (ys < b[:, 1, None, None])
    return inside_y & (xs >= b[:, 2, None, None]) & (xs < b[:, 3, None, None])


def apply_cutmix(mask: Tensor, *maps: Tensor) -> list[Tensor]:
    """Paste, inside ``mask``, the content of image ``(i + 1) mod B`` into image ``i`` for every map.

    Args:
        mask: ``(B, H, W)`` bool.
        *maps: Tensors ``(B, H, W)`` or ``(B, C, H, W)`` with the same ``B, H, W``.

    Returns:
        The mixed maps, same shapes and dtypes.
    """
    out = []
    for x in maps:
        if x.shape[0] != mask.shape[0] or x.shape[-2:] != mask.shape[-2:]:
            raise ValueError(f"map {tuple(x.shape)} does not match the CutMix mask {tuple(mask.shape)}")
        partner = torch.roll(x, shifts=-1, dims=0)  # partner[i] = x[(i + 1) % B]
        m = mask if x.dim() == 3 else mask.unsqueeze(1)
        out.append(torch.where(m, partner, x))
    return out


def random_cutmix(
    *maps: Tensor, prob: float = CUTMIX_PROB, area_ratio: float = CUTMIX_AREA_RATIO,
    generator: torch.Generator | None = None,
) -> tuple[list[Tensor], Tensor | None]:
    """With probability ``prob``, CutMix all ``maps`` with one shared set of boxes.

    Args:
        *maps: Images ``(B, 3, H, W)`` and targets ``(B, H, W)`` (all the same ``B, H, W``).
        prob: Probability of mixing this batch.
        area_ratio: Box area / image area.
        generator: CPU generator.

    Returns:
        ``(mixed maps, mask (B, H, W) bool or None when the batch was left as is)``.
    """
    if not maps:
        raise ValueError("random_cutmix needs at least one map")
    if torch.rand((), generator=generator).item() >= prob:
        return list(maps), None
    batch, height, width = maps[0].shape[0], maps[0].shape[-2], maps[0].shape[-1]
    boxes = cutmix_boxes(batch, height, width, area_ratio, generator)
    mask = cutmix_mask(boxes, height, width, maps[0].device)
    return apply_cutmix(mask, *maps), mask
