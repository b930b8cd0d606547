"""FIR resampling for StyleGAN2 (Karras et al. 2020, arXiv 1912.04958, Sec. 2; appendix B of arXiv 1812.04948).

Pure-PyTorch counterpart of stylegan2-ada-pytorch's ``upfirdn2d`` and ``conv2d_resample`` (reference
implementation only, no compiled kernels): up-sample by zero insertion, pad, convolve with a separable low-pass FIR
filter, down-sample by striding. The padding arithmetic follows ``torch_utils/ops/conv2d_resample.py`` so that
weights converted from the official code give the same images.
"""

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

RESAMPLE_FILTER = (1, 3, 3, 1)  # stylegan2-ada `resample_filter=[1,3,3,1]` (binomial, Zhang 2019 anti-aliasing)


def static_int(value: int | Tensor) -> int:
    """A shape entry that never varies between calls (channels, kernel size) as a Python int.

    Under ``torch.jit.trace``/ONNX export shape entries are traced tensors; channel and kernel sizes are constants
    of the graph, so converting them is exact and the tracer warning is silenced. Never use it on the batch size of
    an export path.

    Args:
        value: A shape entry.

    Returns:
        The value as an int.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return int(value)


def setup_filter(taps: Sequence[float] = RESAMPLE_FILTER) -> Tensor:
    """Separable 2-D FIR filter from 1-D taps, normalised to unit DC gain.

    Args:
        taps: 1-D filter taps.

    Returns:
        ``(K, K)`` filter (outer product of the taps) summing to 1.
    """
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = f[:, None] * f[None, :]
    return f / f.sum()


def upfirdn2d(x: Tensor, f: Tensor, up: int = 1, down: int = 1, padding: Sequence[int] = (0, 0, 0, 0),
              gain: float = 1.0) -> Tensor:
    """Up-sample, pad, FIR-filter and down-sample every channel independently.

    Args:
        x: Input ``(N, C, H, W)``.
        f: 2-D filter ``(K, K)`` (true convolution: the filter is flipped).
        up: Integer up-sampling factor (zero insertion).
        down: Integer down-sampling factor (striding).
        padding: ``(x_before, x_after, y_before, y_after)``; negative values crop.
        gain: Overall gain applied to the filter (``up ** 2`` keeps the mean when up-sampling).

    Returns:
        ``(N, C, H', W')`` with ``H' = (H * up + y_before + y_after - K) // down + 1``.
    """
    n, _, h, w = x.shape
    c = static_int(x.shape[1])
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    px0, px1, py0, py1 = padding
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    if min(padding) < 0:
        x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    weight = (f * gain).flip([0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    """FIR up-sampling by ``up`` (stylegan2-ada ``upfirdn2d.upsample2d``).

    Args:
        x: Input ``(N, C, H, W)``.
        f: 2-D filter ``(K, K)``.
        up: Up-sampling factor.

    Returns:
        ``(N, C, H * up, W * up)``.
    """
    k = static_int(f.shape[-1])
    p0, p1 = (k + up - 1) // 2, (k - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up**2)


def downsample2d(x: Tensor, f: Tensor, down: int = 2) -> Tensor:
    """FIR down-sampling by ``down`` (stylegan2-ada ``upfirdn2d.downsample2d``).

    Args:
        x: Input ``(N, C, H, W)``.
        f: 2-D filter ``(K, K)``.
        down: Down-sampling factor.

    Returns:
        ``(N, C, H // down, W // down)``.
    """
    k = static_int(f.shape[-1])
    p0, p1 = (k - down + 1) // 2, (k - down) // 2
    return upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))


def conv2d_resample(x: Tensor, w: Tensor, f: Tensor | None = None, up: int = 1, down: int = 1,
                    groups: int = 1) -> Tensor:
    """2-D convolution with optional 2x FIR up- or down-sampling, "same" padding (``kernel // 2``).

    Down-sampling blurs then convolves with stride (1x1 kernels: blur-and-stride first). Up-sampling uses a
    transposed strided convolution followed by the blur, with the weight in stylegan2-ada's orientation for ``up > 1``
    (``flip_weight=False``), so official weights transfer unchanged.

    Args:
        x: Input ``(N, C_in, H, W)``.
        w: Weight ``(C_out, C_in // groups, k, k)``.
        f: 2-D FIR filter ``(K, K)``; required when resampling.
        up: 1 or 2.
        down: 1 or 2 (not together with ``up``).
        groups: Convolution groups.

    Returns:
        ``(N, C_out, H * up // down, W * up // down)``.
    """
    c_out, c_in_group, kh, kw = (static_int(v) for v in w.shape)
    pad = kw // 2
    if up == 1 and down == 1:
        return F.conv2d(x, w, padding=pad, groups=groups)
    if f is None:
        raise ValueError("a FIR filter is needed to resample")
    fk = static_int(f.shape[-1])
    if down > 1:
        p0, p1 = pad + (fk - down + 1) // 2, pad + (fk - down) // 2
        if kw == 1:
            return F.conv2d(upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1)), w, groups=groups)
        return F.conv2d(upfirdn2d(x, f, padding=(p0, p1, p0, p1)), w, stride=down, groups=groups)
    p0, p1 = pad + (fk + up - 1) // 2, pad + (fk - up) // 2
    if kw == 1:
        x = F.conv2d(x, w, groups=groups)
        return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up**2)
    # Transposed convolution: the weight becomes (C_in, C_out // groups, k, k), group by group.
    wt = w.reshape(groups, c_out // groups, c_in_group, kh, kw).transpose(1, 2).reshape(groups * c_in_group, -1, kh, kw)
    p0, p1 = p0 - (kw - 1), p1 - (kw - up)
    pt = max(min(-p0, -p1), 0)
    x = F.conv_transpose2d(x, wt, stride=up, padding=pt, groups=groups)
    return upfirdn2d(x, f, padding=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=up**2)
