"""ClassMix across domains and the DACS strong augmentation (DACS, arXiv 2007.08702; DAFormer, arXiv 2111.14887).

Official code: usr922/FST ``mmseg/models/utils/dacs_transforms.py`` (DAFormer's copy of vikolss/DACS
``utils/transformsgpu.py``), called from ``mmseg/models/uda/dacs.py`` L215-296.

* Mask: for each source image, ``ceil(n / 2)`` of its ``n`` label values (drawn uniformly without replacement)
  are pasted (``get_class_masks`` L88-97: ``int((n + n % 2) / 2)``). The ignore label counts as a value, as in both
  official codes (DAFormer L91, DACS ``trainUDA.py`` L426-427 with the exclusion commented out).
* Mix: ``M * source + (1 - M) * target`` for the image, the label and the pixel weight (``one_mix`` L107-118).
* Strong transform of the mixed image (``strong_transform`` L9-21): colour jitter, then Gaussian blur. The jitter
  runs when ``u > p`` with one ``u ~ U(0, 1)`` drawn per batch (``dacs.py`` L218), i.e. with probability ``1 - p``
  (0.8 for the official ``p = 0.2``); it denormalises to [0, 1] with the data preprocessor's mean / std, applies
  kornia 0.5.8's ``ColorJitter(s, s, s, s)`` per image and renormalises (L50-64). The blur runs when another
  per-batch ``u > 0.5``, with ``sigma ~ U(0.15, 1.15)`` and an odd kernel of about a tenth of the image side per
  image, on the normalised image (L67-85; a normalised Gaussian kernel commutes with the per-channel affine map).

Everything here works on normalised float tensors and draws from an explicit ``torch.Generator`` (the official
code uses Python's / NumPy's / torch's global generators), so a seeded run is reproducible.
"""

import math

import torch
from torch import Tensor
from torch.nn import functional as F

#: DAFormer ``configs/_base_/uda/dacs.py``: ``color_jitter_strength=0.2``, ``color_jitter_probability=0.2``.
COLOR_JITTER_STRENGTH = 0.2
COLOR_JITTER_PROBABILITY = 0.2
#: ``gaussian_blur`` (dacs_transforms.py L71): ``sigma ~ U(0.15, 1.15)``; applied when ``u > 0.5``.
BLUR_SIGMA_RANGE = (0.15, 1.15)
BLUR_THRESHOLD = 0.5
_HSV_EPS = 1e-6  # kornia 0.5.8 rgb_to_hsv


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


# ---------------------------------------------------------------------------------------------------- ClassMix
def choose_half_classes(
    label: Tensor, generator: torch.Generator | None = None, exclude: int | None = None
) -> Tensor:
    """Draw ``ceil(n / 2)`` of the ``n`` values present in ``label``, uniformly without replacement.

    Args:
        label: Label map of any shape.
        generator: CPU generator.
        exclude: A value never drawn (``None``: the ignore label is a candidate, as in the official code).

    Returns:
        ``(ceil(n / 2),)`` long, sorted.
    """
    classes = torch.unique(label)
    if exclude is not None:
        classes = classes[classes != exclude]
    n = classes.numel()
    pick = torch.randperm(n, generator=generator)[: (n + n % 2) // 2]
    return classes[pick.to(classes.device)].sort().values


def class_mix_masks(
    labels: Tensor, generator: torch.Generator | None = None, per_image: bool = True, exclude: int | None = None
) -> Tensor:
    """ClassMix masks: True where the source pixel's class is among the chosen half.

    Args:
        labels: Source labels ``(B, H, W)`` long.
        generator: CPU generator.
        per_image: Draw from the classes of each source image (DACS paper, Sec. 3: "half of the classes in the
            source image"). ``False`` reproduces the DAFormer / FST code, which draws from the classes of the
            whole source batch (``get_class_masks`` L90-91 calls ``torch.unique(labels)``, not ``label``), so a
            chosen class may be absent from the image.
        exclude: See :func:`choose_half_classes`.

    Returns:
        ``(B, H, W)`` bool.
    """
    masks = []
    for label in labels:
        classes = choose_half_classes(label if per_image else labels, generator, exclude)
        masks.append(torch.isin(label, classes.to(label.device)))
    return torch.stack(masks)


def mix(mask: Tensor, source: Tensor, target: Tensor) -> Tensor:
    """``mask * source + (1 - mask) * target`` for images ``(B, C, H, W)`` or maps ``(B, H, W)``.

    Args:
        mask: ``(B, H, W)`` bool.
        source: Same shape as ``target``.
        target: ``(B, C, H, W)`` or ``(B, H, W)``.

    Returns:
        The mixed tensor, dtype of ``target``.
    """
    if source.shape != target.shape or source.shape[0] != mask.shape[0] or source.shape[-2:] != mask.shape[-2:]:
        raise ValueError(f"ClassMix needs matching shapes, got mask {tuple(mask.shape)}, source "
                         f"{tuple(source.shape)}, target {tuple(target.shape)}")
    m = mask if source.dim() == 3 else mask.unsqueeze(1)
    return torch.where(m, source.to(target.dtype), target)


# ---------------------------------------------------------------------------------------------------- colour
def rgb_to_hsv(img: Tensor) -> Tensor:
    """RGB in [0, 1] ``(..., 3, H, W)`` -> HSV with hue in radians [0, 2 pi) (kornia 0.5.8 convention)."""
    maxc, argmax = img.max(dim=-3)
    minc = img.min(dim=-3).values
    delta = maxc - minc
    s = delta / (maxc + _HSV_EPS)
    delta = torch.where(delta == 0, torch.ones_like(delta), delta)
    rc, gc, bc = (maxc.unsqueeze(-3) - img).unbind(dim=-3)
    h = torch.stack([bc - gc, (rc - bc) + 2.0 * delta, (gc - rc) + 4.0 * delta], dim=-3) / delta.unsqueeze(-3)
    h = torch.gather(h, -3, argmax.unsqueeze(-3)).squeeze(-3)
    h = torch.remainder(h / 6.0, 1.0) * (2 * math.pi)
    return torch.stack([h, s, maxc], dim=-3)


def hsv_to_rgb(img: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_hsv` (hue taken modulo 2 pi)."""
    h, s, v = img.unbind(dim=-3)
    h6 = torch.remainder(h / (2 * math.pi), 1.0) * 6.0
    hi = torch.floor(h6).clamp(max=5)
    f = h6 - hi
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = torch.stack([v, q, p, p, t, v, t, v, v, q, p, p, p, p, t, v, v, q], dim=-3)  # r | g | b per sector
    idx = hi.long().unsqueeze(-3) + torch.tensor([0, 6, 12], device=img.device).view(3, 1, 1)
    return torch.gather(table, -3, idx)


def color_jitter(img: Tensor, strength: float, generator: torch.Generator | None = None) -> Tensor:
    """Colour jitter of kornia 0.5.8 ``ColorJitter(brightness=s, contrast=s, saturation=s, hue=s)``, one image.

    Factors ``b, c, sat ~ U(1 - s, 1 + s)`` and ``h ~ U(-s, s)``, applied in a random order: brightness adds
    ``b - 1``, contrast multiplies by ``c`` (kornia 0.5 does not blend with the mean as torchvision does),
    saturation scales HSV's S, hue shifts by ``2 pi h``; each clamps to [0, 1].

    Args:
        img: RGB ``(3, H, W)`` in [0, 1].
        strength: ``s``.
        generator: CPU generator.

    Returns:
        ``(3, H, W)`` in [0, 1].
    """
    s = float(strength)
    b, c, sat = (_uniform(max(0.0, 1 - s), 1 + s, generator) for _ in range(3))
    hue = _uniform(-s, s, generator)
    order = torch.randperm(4, generator=generator).tolist()
    for op in order:
        if op == 0:
            img = (img + (b - 1.0)).clamp(0, 1)
        elif op == 1:
            img = (img * c).clamp(0, 1)
        elif op == 2:
            hsv = rgb_to_hsv(img)
            img = hsv_to_rgb(torch.stack([hsv[0], (hsv[1] * sat).clamp(0, 1), hsv[2]]))
        else:
            hsv = rgb_to_hsv(img)
            img = hsv_to_rgb(torch.stack([hsv[0] + hue * 2 * math.pi, hsv[1], hsv[2]]))
    return img


# ---------------------------------------------------------------------------------------------------- blur
def blur_kernel_size(side: int) -> int:
    """Odd kernel of about a tenth of ``side``: ``floor(ceil(0.1 n) - 0.5 + ceil(0.1 n) % 2)`` (L72-79)."""
    c = math.ceil(0.1 * side)
    return int(math.floor(c - 0.5 + c % 2))


def gaussian_blur(img: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur with reflect padding (kornia ``GaussianBlur2d``), kernel from :func:`blur_kernel_size`.

    Args:
        img: ``(B, C, H, W)``.
        sigma: Standard deviation in pixels.

    Returns:
        ``(B, C, H, W)``.
    """
    channels, (height, width) = img.shape[1], img.shape[-2:]
    out = img
    for dim, size in ((-1, width), (-2, height)):
        k = blur_kernel_size(size)
        x = torch.arange(k, device=img.device, dtype=img.dtype) - k // 2
        kernel = torch.exp(-(x**2) / (2.0 * sigma**2))
        kernel = (kernel / kernel.sum()).repeat(channels, 1, 1, 1)
        if dim == -1:
            out = F.conv2d(F.pad(out, (k // 2, k // 2, 0, 0), mode="reflect"), kernel.view(channels, 1, 1, k),
                           groups=channels)
        else:
            out = F.conv2d(F.pad(out, (0, 0, k // 2, k // 2), mode="reflect"), kernel.view(channels, 1, k, 1),
                           groups=channels)
    return out


# ---------------------------------------------------------------------------------------------------- DACS
def strong_transform(
    images: Tensor,
    mean: Tensor,
    std: Tensor,
    generator: torch.Generator | None = None,
    jitter_strength: float = COLOR_JITTER_STRENGTH,
    jitter_probability: float = COLOR_JITTER_PROBABILITY,
    blur: bool = True,
) -> tuple[Tensor, dict[str, bool]]:
    """DACS strong augmentation of normalised (mixed) images: colour jitter then Gaussian blur.

    Args:
        images: Normalised ``(B, 3, H, W)`` (``(x - mean) / std`` on the 0-255 scale).
        mean: ``(3,)`` or broadcastable, 0-255 scale.
        std: Same layout as ``mean``.
        generator: CPU generator.
        jitter_strength: ``s`` of the colour jitter.
        jitter_probability: The jitter is skipped when the per-batch draw ``u <= p`` (official semantics).
        blur: Allow the blur (then applied when a second per-batch draw exceeds 0.5).

    Returns:
        ``(augmented (B, 3, H, W), {'jitter': bool, 'blur': bool})``; the input is not modified.
    """
    mean = mean.to(images).reshape(1, -1, 1, 1)
    std = std.to(images).reshape(1, -1, 1, 1)
    do_jitter = torch.rand((), generator=generator).item() > jitter_probability
    do_blur = blur and torch.rand((), generator=generator).item() > BLUR_THRESHOLD
    out = images
    if do_jitter:
        unit = (images * std + mean) / 255.0
        unit = torch.stack([color_jitter(img, jitter_strength, generator) for img in unit])
        out = (unit * 255.0 - mean) / std
    if do_blur:
        out = torch.cat([gaussian_blur(img[None], _uniform(*BLUR_SIGMA_RANGE, generator)) for img in out])
    return out, {"jitter": do_jitter, "blur": do_blur}
