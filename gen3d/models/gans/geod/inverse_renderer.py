"""A compact Unsup3d-style inverse renderer: real-image geometry for GeoD without labels.

Unsup3d (Wu et al. 2020, "Unsupervised Learning of Probably Symmetric Deformable 3D Objects from Images in the Wild",
arXiv 1911.11130; ``elliottwu/unsup3d:unsup3d/{model,networks}.py``), as GeoD's authors use it in
``VivianSZF/pof3d:training/inverse_renderer_object.py``: from one image, an encoder-decoder predicts a canonical depth
map and an albedo, two encoders a light (4-d: ambient, diffuse, light direction x/y) and a viewpoint (6-d), and a
confidence net per-pixel uncertainties. The canonical depth is mean-centred, squashed by ``tanh`` into the depth range
``[2.25, 3.3]`` with its two left and right border columns clamped, turned into normals, shaded Lambertian
(``ambient + diffuse * max(0, <n, l>)``) and multiplied with the albedo. The self-supervised loss is the
confidence-weighted L1 of the reconstruction plus 0.5 times that of the horizontally flipped canonical depth and
albedo (the symmetry prior), plus a perceptual term (weight 1.0, also with its flip).

Simplifications at CPU scale (stated, not hidden):

- **No view warp.** Unsup3d re-poses the canonical mesh with the predicted view and a mesh rasteriser
  (neural_renderer); here the canonical frame is the input view, so the viewpoint net is not built and the
  reconstruction mask is all ones. The flip term then assumes objects roughly symmetric about the vertical image axis.
- **Perceptual term only when a module is given.** The official one is VGG16 relu3_3 with ImageNet weights, which are
  not available offline here; with ``perceptual=None`` that term is off (never replaced by a fake).
- **Networks adapt to the resolution.** The encoders halve the input down to 4 x 4 before a 4 x 4 valid conv
  (Unsup3d's layout at 64 px: four halvings), the decoder mirrors them and ends with Unsup3d's nearest x2 upsampling;
  the GroupNorm group count is ``gcd(16, channels)`` so that tiny widths work. The confidence net is an
  ``EDDeconv`` with softplus outputs (Unsup3d's ``ConfNet`` has a separate quarter-resolution perceptual head).

Normals use gen3d's convention (:func:`gen3d.models.rendering.normals.normals_from_depth` on planar ``z`` depth at
Unsup3d's fov 18.837): camera space, ``x`` right, ``y`` up, ``+z`` towards the viewer; the light direction is
``normalize(dx, dy, 1)`` in the same frame, so a frontal light lights a frontal surface.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen3d.models.rendering.normals import normals_from_depth
from gen3d.registry import MODELS

# elliottwu/unsup3d:experiments/train_celeba.yml and pof3d inverse_renderer_object.py defaults
RESOLUTION = 64  # pof3d run_IR resizes every input to 64 px
MIN_DEPTH, MAX_DEPTH = 2.25, 3.3  # min_depth / max_depth (pof3d loss_pose.py too)
BORDER_DEPTH_MIX = 0.7  # border_depth = 0.7 * max_depth + 0.3 * min_depth
FOV = 18.837  # fov (degrees)
DEPTH_NF, DEPTH_ZDIM = 64, 256  # netD / netA: EDDeconv(nf=64, zdim=256)
LIGHT_NF = 32  # netL: Encoder(cout=4, nf=32); netV (6-d) is not built here, see the module docstring
CONF_NF, CONF_ZDIM = 64, 128  # netC: ConfNet(nf=64, zdim=128)
LAM_FLIP, LAM_PERC = 0.5, 1.0  # lam_flip, lam_perc
EPS = 1e-7
BORDER_COLUMNS = 2  # unsup3d clamps 2 columns on the left and on the right


def _gn(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(16, channels), channels)


def _num_halvings(resolution: int) -> int:
    n = int(round(math.log2(resolution))) - 2
    if resolution != 2 ** (n + 2) or n < 1:
        raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
    return n


class Encoder(nn.Module):
    """Image -> vector: stride-2 convs down to 4 x 4, a 4 x 4 valid conv, a 1 x 1 conv (Unsup3d ``Encoder``).

    Args:
        cin: Input channels.
        cout: Output size.
        resolution: Input side (power of two >= 8).
        nf: Base width.
    """

    def __init__(self, cin: int, cout: int, resolution: int, nf: int = LIGHT_NF) -> None:
        super().__init__()
        layers, c = [], cin
        for i in range(_num_halvings(resolution)):
            co = nf * 2 ** min(i, 3)
            layers += [nn.Conv2d(c, co, 4, 2, 1, bias=False), nn.ReLU(inplace=True)]
            c = co
        layers += [nn.Conv2d(c, c, 4, 1, 0, bias=False), nn.ReLU(inplace=True), nn.Conv2d(c, cout, 1, bias=False)]
        self.network = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, cin, R, R)`` -> ``(N, cout)`` in ``[-1, 1]`` (tanh)."""
        return torch.tanh(self.network(x).flatten(1))


class EDDeconv(nn.Module):
    """Encoder-decoder to a full-resolution map (Unsup3d ``EDDeconv``, resolution-adaptive).

    Args:
        cin: Input channels.
        cout: Output channels.
        resolution: Input side (power of two >= 8).
        nf: Base width.
        zdim: Bottleneck size.
    """

    def __init__(self, cin: int, cout: int, resolution: int, nf: int = DEPTH_NF, zdim: int = DEPTH_ZDIM) -> None:
        super().__init__()
        n = _num_halvings(resolution)
        widths = [nf * 2 ** min(i, 3) for i in range(n)]
        down, c = [], cin
        for i, co in enumerate(widths):
            down += [nn.Conv2d(c, co, 4, 2, 1, bias=False)]
            down += [_gn(co)] if i < n - 1 else []
            down += [nn.LeakyReLU(0.2, inplace=True)]
            c = co
        down += [nn.Conv2d(c, zdim, 4, 1, 0, bias=False), nn.ReLU(inplace=True)]
        up = [nn.ConvTranspose2d(zdim, c, 4, 1, 0, bias=False), nn.ReLU(inplace=True),
              nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.ReLU(inplace=True)]
        for co in widths[::-1][1:]:  # 4 -> R / 2
            up += [nn.ConvTranspose2d(c, co, 4, 2, 1, bias=False), _gn(co), nn.ReLU(inplace=True),
                   nn.Conv2d(co, co, 3, 1, 1, bias=False), _gn(co), nn.ReLU(inplace=True)]
            c = co
        up += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, 1, 1, bias=False), _gn(c),
               nn.ReLU(inplace=True), nn.Conv2d(c, c, 5, 1, 2, bias=False), _gn(c), nn.ReLU(inplace=True),
               nn.Conv2d(c, cout, 5, 1, 2, bias=False)]
        self.network = nn.Sequential(*down, *up)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, cin, R, R)`` -> ``(N, cout, R, R)`` (no output activation)."""
        return self.network(x)


def shade(depth: Tensor, albedo: Tensor, light: Tensor, fov: float = FOV) -> tuple[Tensor, Tensor]:
    """Lambertian rendering of a canonical depth and albedo.

    Args:
        depth: ``(N, 1, H, W)`` planar depth (distance along ``-z``).
        albedo: ``(N, 3, H, W)`` in ``[-1, 1]``.
        light: ``(N, 4)``: ambient and diffuse strengths in ``[0, 1]``, light direction ``x, y`` (``z = 1``).
        fov: Field of view, degrees.

    Returns:
        ``image (N, 3, H, W)`` in about ``[-1, 1]`` and ``normal (N, 3, H, W)`` (unit, camera space, +z to the viewer).
    """
    normal = normals_from_depth(depth, fov, depth_kind="z")
    direction = F.normalize(torch.cat([light[:, 2:4], torch.ones_like(light[:, :1])], 1), dim=1)
    diffuse = (normal * direction[:, :, None, None]).sum(1, keepdim=True).clamp(min=0)
    shading = light[:, 0, None, None, None] + light[:, 1, None, None, None] * diffuse
    return (albedo / 2 + 0.5) * shading * 2 - 1, normal


def confidence_l1(recon: Tensor, target: Tensor, sigma: Tensor, mask: Tensor | None = None) -> Tensor:
    """Unsup3d's confidence-weighted L1: ``|x - y| * sqrt(2) / sigma + log(sigma)``, mean over the mask.

    Args:
        recon: ``(N, C, H, W)``.
        target: ``(N, C, H, W)``.
        sigma: ``(N, 1, H, W)`` positive.
        mask: ``(N, 1, H, W)`` or None.

    Returns:
        Scalar.
    """
    loss = (recon - target).abs() * 2 ** 0.5 / (sigma + EPS) + (sigma + EPS).log()
    if mask is None:
        return loss.mean()
    mask = mask.expand_as(loss)
    return (loss * mask).sum() / mask.sum().clamp(min=EPS)


@MODELS.register_module()
class Unsup3dInverseRenderer(nn.Module):
    """Image -> canonical depth, albedo, light, confidence; re-rendered by Lambertian shading (module docstring).

    Args:
        resolution: Working side; inputs of another size are resized bilinearly (pof3d: 64).
        nf: Width of the depth and albedo nets (Unsup3d 64).
        zdim: Their bottleneck (Unsup3d 256).
        light_nf: Width of the light encoder (Unsup3d 32).
        conf_nf: Width of the confidence net (Unsup3d 64); 0 disables it (plain L1).
        conf_zdim: Its bottleneck (Unsup3d 128).
        min_depth: Depth range, near.
        max_depth: Depth range, far.
        fov: Field of view of the canonical camera, degrees.
        lam_flip: Weight of the flipped reconstruction.
        lam_perc: Weight of the perceptual terms (used only with ``perceptual``).
        perceptual: Optional ``(recon, target, mask, conf_sigma) -> scalar`` module (Unsup3d: VGG16 relu3_3).
    """

    def __init__(self, resolution: int = RESOLUTION, nf: int = DEPTH_NF, zdim: int = DEPTH_ZDIM,
                 light_nf: int = LIGHT_NF, conf_nf: int = CONF_NF, conf_zdim: int = CONF_ZDIM,
                 min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH, fov: float = FOV,
                 lam_flip: float = LAM_FLIP, lam_perc: float = LAM_PERC, perceptual: nn.Module | None = None) -> None:
        super().__init__()
        if not 0 < min_depth < max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth, got {min_depth}, {max_depth}")
        self.resolution, self.fov = int(resolution), float(fov)
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.border_depth = BORDER_DEPTH_MIX * self.max_depth + (1 - BORDER_DEPTH_MIX) * self.min_depth
        self.lam_flip, self.lam_perc = float(lam_flip), float(lam_perc)
        self.net_depth = EDDeconv(3, 1, self.resolution, nf, zdim)
        self.net_albedo = EDDeconv(3, 3, self.resolution, nf, zdim)
        self.net_light = Encoder(3, 4, self.resolution, light_nf)
        n_conf = 4 if perceptual is not None else 2  # (l1, l1 flip[, perceptual, perceptual flip])
        self.net_conf = EDDeconv(3, n_conf, self.resolution, conf_nf, conf_zdim) if conf_nf > 0 else None
        self.perceptual = perceptual

    def _depth(self, raw: Tensor) -> Tensor:
        d = raw - raw.mean((1, 2, 3), keepdim=True)
        d = (1 + d.tanh()) / 2 * self.max_depth + (1 - d.tanh()) / 2 * self.min_depth
        border = torch.zeros_like(d[:1])
        border[..., :BORDER_COLUMNS] = 1
        border[..., -BORDER_COLUMNS:] = 1
        return d * (1 - border) + border * self.border_depth

    def forward(self, img: Tensor) -> dict[str, Tensor]:
        """Decompose and re-render.

        Args:
            img: ``(N, 3, H, W)`` in ``[-1, 1]``.

        Returns:
            ``input (N, 3, R, R)`` (resized), ``depth (N, 1, R, R)`` in the depth range, ``albedo (N, 3, R, R)``,
            ``light (N, 4)``, ``normal (N, 3, R, R)``, ``recon`` and ``recon_flip (N, 3, R, R)``, ``mask
            (N, 1, R, R)`` (ones: no view warp) and, with the confidence net, ``conf (N, 2 or 4, R, R)``.
        """
        if img.dim() != 4 or img.shape[1] != 3:
            raise ValueError(f"img must be (N, 3, H, W), got {tuple(img.shape)}")
        x = img
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        depth = self._depth(self.net_depth(x))
        albedo = torch.tanh(self.net_albedo(x))
        raw = self.net_light(x)
        light = torch.cat([(1 + raw[:, :2]) / 2, raw[:, 2:]], 1)  # ambient, diffuse in [0, 1] (min 0, max 1)
        n = x.shape[0]
        both, normal_both = shade(torch.cat([depth, depth.flip(-1)]), torch.cat([albedo, albedo.flip(-1)]),
                                  light.repeat(2, 1), self.fov)
        out = dict(input=x, depth=depth, albedo=albedo, light=light, normal=normal_both[:n], recon=both[:n],
                   recon_flip=both[n:], mask=torch.ones_like(depth))
        if self.net_conf is not None:
            out["conf"] = F.softplus(self.net_conf(x))
        return out

    def loss(self, img: Tensor) -> dict[str, Tensor]:
        """Self-supervised reconstruction loss (Unsup3d ``model.py``; pof3d ``loss_pose.py`` phase ``IRboth``).

        Args:
            img: ``(N, 3, H, W)`` real images in ``[-1, 1]``.

        Returns:
            ``{'loss': total, 'l1', 'l1_flip'[, 'perc', 'perc_flip']}`` scalars.
        """
        out = self(img)
        x, mask, conf = out["input"], out["mask"], out.get("conf")
        s = (None, None) if conf is None else (conf[:, :1], conf[:, 1:2])
        if conf is None:
            l1 = ((out["recon"] - x).abs()).mean()
            l1_flip = ((out["recon_flip"] - x).abs()).mean()
        else:
            l1, l1_flip = confidence_l1(out["recon"], x, s[0], mask), confidence_l1(out["recon_flip"], x, s[1], mask)
        losses = dict(l1=l1, l1_flip=l1_flip)
        total = l1 + self.lam_flip * l1_flip
        if self.perceptual is not None:
            sp = (None, None) if conf is None else (conf[:, 2:3], conf[:, 3:4])
            losses["perc"] = self.perceptual(out["recon"], x, mask, sp[0])
            losses["perc_flip"] = self.perceptual(out["recon_flip"], x, mask, sp[1])
            total = total + self.lam_perc * (losses["perc"] + self.lam_flip * losses["perc_flip"])
        losses["loss"] = total
        return losses
