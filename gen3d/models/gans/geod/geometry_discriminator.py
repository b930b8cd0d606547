"""GeoD: a geometry-aware discriminator (Shi et al. 2022, NeurIPS'22, arXiv 2209.15637).

D gets a second task besides real/fake: it extracts the geometry (a unit normal map, optionally a depth map) of the
image it is shown; its prediction on fake images supervises the generator's rendered geometry. An optional third task
is novel-view synthesis (NVS): from an image at pose 1 and a target pose 2, D predicts the image at pose 2.

:class:`GeometryAwareDiscriminator` wraps any discriminator that exposes ``features(img, **kw) -> [(N, C_l, H_l,
W_l), ...]`` (fine to coarse) and decodes those features with a small U-Net-style head: the coarsest level first,
upsampled by two and concatenated with the next finer level at every step, as the depth head of DepthGAN
(``VivianSZF/depthgan:models/depthgan_discriminator.py:DepthLossLayer``: conv, upsample, concat). Levels are aligned
from the coarsest, so that a progressive discriminator (pi-GAN) that shows fewer fine levels at a low resolution
still uses the same coarse head layers. The official GeoD code is not public; the geometry loss and its schedule
follow ``VivianSZF/pof3d:training/loss_pose.py`` (see :mod:`.losses`).

Used as a config key, like ``dynamic_d``: a model calls :func:`build_geod_discriminator` on its discriminator config
(DynamicD, when also configured, wraps the inner discriminator first, so its width masks never touch the head) and
:func:`check_geod_generator` on its generator.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen3d.registry import MODELS

from ..discriminator_wrapper import DiscriminatorWrapper

GEOD_OUTPUTS = ("normal", "depth")
HEAD_CHANNELS = 32  # width of the decoder; the official head width is not public (CPU-sized default)
DEPTH_EPS = 1e-3  # depth = softplus(x) + eps keeps the predicted depth positive
LRELU_SLOPE = 0.2


_HOOK_ATTR = "_geod_output"


def _store_output(module: nn.Module, args: Any, output: Tensor) -> None:  # noqa: ANN401
    """Forward hook of ``feature_layers``: a module-level function, so a deep copy of the model stays independent."""
    module.__dict__[_HOOK_ATTR] = output


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(LRELU_SLOPE, inplace=True))


class FeatureDecoder(nn.Module):
    """U-Net decoder over discriminator features, coarse to fine, to ``out_channels`` maps at the image size.

    Args:
        in_channels: Channels of the feature levels, fine to coarse (as ``features`` returns them).
        out_channels: Output channels.
        channels: Decoder width.
        cond_dim: Size of an optional conditioning vector added to the coarsest level (NVS: the target pose).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, channels: int, cond_dim: int = 0) -> None:
        super().__init__()
        coarse_first = list(in_channels)[::-1]
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in coarse_first)
        self.fuse = nn.ModuleList(_conv_block(channels if i == 0 else 2 * channels, channels)
                                  for i in range(len(coarse_first)))
        self.cond = nn.Linear(cond_dim, channels) if cond_dim > 0 else None
        self.out = nn.Sequential(_conv_block(channels, channels), nn.Conv2d(channels, out_channels, 3, padding=1))

    def forward(self, features: Sequence[Tensor], size: tuple[int, int], cond: Tensor | None = None) -> Tensor:
        """Decode.

        Args:
            features: ``(N, C_l, H_l, W_l)`` fine to coarse; at most as many levels as ``in_channels``.
            size: Output ``(H, W)``.
            cond: ``(N, cond_dim)`` when the decoder is conditioned.

        Returns:
            ``(N, out_channels, H, W)``.
        """
        coarse_first = list(features)[::-1]
        if not 0 < len(coarse_first) <= len(self.lateral):
            raise ValueError(f"expected 1..{len(self.lateral)} feature levels, got {len(coarse_first)}")
        x = None
        for i, f in enumerate(coarse_first):
            lat = self.lateral[i](f)
            if x is None:
                if self.cond is not None:
                    if cond is None:
                        raise ValueError("this decoder is conditioned: pass cond")
                    lat = lat + self.cond(cond)[:, :, None, None]
                x = self.fuse[i](lat)
            else:
                x = F.interpolate(x, size=lat.shape[-2:], mode="bilinear", align_corners=False)
                x = self.fuse[i](torch.cat([x, lat], 1))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.out(x)


@MODELS.register_module()
class GeometryAwareDiscriminator(DiscriminatorWrapper):
    """Any feature-exposing discriminator plus a geometry head (and optionally an NVS head).

    Args:
        discriminator: The discriminator, or its config dict; it must have ``features(img, **kw)`` returning a list
            of ``(N, C_l, H_l, W_l)`` fine to coarse.
        outputs: Geometry maps to decode, a subset of :data:`GEOD_OUTPUTS` (``'normal'`` is GeoD's default).
        head_channels: Width of the geometry (and NVS) decoder.
        in_channels: Channels of the feature levels, fine to coarse; None probes ``features`` once on zeros of
            ``probe_resolution`` (default: the discriminator's ``resolution`` or ``img_resolution``).
        probe_resolution: Side of the probe image.
        img_channels: Image channels (probe input and NVS output).
        nvs_pose_dim: Pose size of the novel-view-synthesis head; 0 builds none (GeoD's optional third task; a
            model sets it from its pose code, :func:`.nvs.nvs_discriminator_args`).
        feature_layers: For a discriminator without ``features``: names of its submodules (fine to coarse) whose
            outputs ``(N, C_l, H_l, W_l)`` are the features, captured by forward hooks during its forward pass
            (StyleGAN2Discriminator: ``('b16', 'b8')``); then scoring and features take one pass.

    Attributes:
        module: The wrapped discriminator (``state_dict`` keys ``module.<...>``).
    """

    def __init__(self, discriminator: dict | nn.Module, outputs: Sequence[str] = ("normal",),
                 head_channels: int = HEAD_CHANNELS, in_channels: Sequence[int] | None = None,
                 probe_resolution: int | None = None, img_channels: int = 3, nvs_pose_dim: int = 0,
                 feature_layers: Sequence[str] | None = None) -> None:
        super().__init__()
        module = MODELS.build(discriminator) if isinstance(discriminator, dict) else discriminator
        self.feature_layers = tuple(feature_layers or ())
        if self.feature_layers:
            named = dict(module.named_modules())
            unknown = [n for n in self.feature_layers if n not in named]
            if unknown:
                raise ValueError(f"{type(module).__name__} has no submodules {unknown} (feature_layers)")
            for n in self.feature_layers:
                named[n].register_forward_hook(_store_output)
        elif not callable(getattr(module, "features", None)):
            raise TypeError(f"{type(module).__name__} has no features(img, **kw) -> list of (N, C, H, W) maps: "
                            "GeoD decodes geometry from a discriminator's features (or name its layers in "
                            "feature_layers)")
        outputs = tuple(outputs)
        if not outputs or any(o not in GEOD_OUTPUTS for o in outputs) or len(set(outputs)) != len(outputs):
            raise ValueError(f"outputs must be distinct names from {GEOD_OUTPUTS}, got {outputs}")
        self.module, self.outputs, self.img_channels = module, outputs, int(img_channels)
        params = inspect.signature(module.features).parameters.values() if not self.feature_layers else ()
        self._features_takes_all = any(p.kind is p.VAR_KEYWORD for p in params)
        self._features_kwargs = {p.name for p in params}
        if in_channels is None:
            in_channels = self._probe_channels(probe_resolution)
        self.in_channels = tuple(int(c) for c in in_channels)
        out_ch = 3 * ("normal" in outputs) + ("depth" in outputs)
        self.geometry_head = FeatureDecoder(self.in_channels, out_ch, head_channels)
        self.nvs_pose_dim = int(nvs_pose_dim)
        self.nvs_head = (FeatureDecoder(self.in_channels, self.img_channels, head_channels, cond_dim=nvs_pose_dim)
                         if nvs_pose_dim > 0 else None)

    def _hooked_forward(self, img: Tensor, c: Tensor | None, **kwargs: Any) -> tuple[Any, list[Tensor]]:  # noqa: ANN401
        layers = [self.module.get_submodule(n) for n in self.feature_layers]
        logits = self.module(img, c, **kwargs)
        feats = [layer.__dict__.pop(_HOOK_ATTR) for layer in layers]  # popped: no graph kept alive on the module
        return logits, feats

    def _probe_channels(self, resolution: int | None) -> list[int]:
        res = resolution or getattr(self.module, "resolution", None) or getattr(self.module, "img_resolution", None)
        if not res:
            raise ValueError(f"cannot probe the feature channels of {type(self.module).__name__}: pass in_channels "
                             "or probe_resolution")
        was_training = self.module.training
        with torch.no_grad():
            self.module.eval()
            feats = self.features(torch.zeros(2, self.img_channels, int(res), int(res)))
        self.module.train(was_training)
        return [f.shape[1] for f in feats]

    def _feature_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return kwargs if self._features_takes_all else {k: v for k, v in kwargs.items() if k in self._features_kwargs}

    def features(self, img: Tensor, **kwargs: Any) -> list[Tensor]:  # noqa: ANN401
        """The wrapped discriminator's features, fine to coarse (keyword arguments it does not take are dropped)."""
        if self.feature_layers:  # one full forward; labels, when the discriminator needs them, as ``c=``
            c = kwargs.pop("c", None)
            return self._hooked_forward(img, c, **kwargs)[1]
        return self.module.features(img, **self._feature_kwargs(kwargs))

    def geometry(self, img: Tensor, **kwargs: Any) -> dict[str, Tensor]:  # noqa: ANN401
        """Decode the geometry of images.

        Args:
            img: ``(N, C, H, W)`` images.
            **kwargs: Passed to ``features`` where it takes them (``alpha`` of a progressive discriminator).

        Returns:
            ``{'normal': (N, 3, H, W) unit vectors, 'depth': (N, 1, H, W) positive}`` for the configured outputs.
        """
        return self._decode(self.features(img, **kwargs), img.shape[-2:])

    def _decode(self, feats: list[Tensor], size: tuple[int, int]) -> dict[str, Tensor]:
        raw = self.geometry_head(feats, size)
        out, i = {}, 0
        if "normal" in self.outputs:
            out["normal"] = F.normalize(raw[:, :3], dim=1)
            i = 3
        if "depth" in self.outputs:
            out["depth"] = F.softplus(raw[:, i:i + 1]) + DEPTH_EPS
        return out

    def novel_view(self, img: Tensor, target_pose: Tensor, **kwargs: Any) -> Tensor:  # noqa: ANN401
        """GeoD's NVS task: the image at ``target_pose`` predicted from ``img`` (at another pose).

        Args:
            img: ``(N, C, H, W)`` images at pose 1.
            target_pose: ``(N, nvs_pose_dim)`` pose 2.
            **kwargs: Passed to ``features`` where it takes them.

        Returns:
            ``(N, C, H, W)`` in ``[-1, 1]``.
        """
        if self.nvs_head is None:
            raise RuntimeError("built without the NVS head: pass nvs_pose_dim > 0")
        if target_pose.shape != (img.shape[0], self.nvs_pose_dim):
            raise ValueError(f"target_pose must be ({img.shape[0]}, {self.nvs_pose_dim}), "
                             f"got {tuple(target_pose.shape)}")
        return torch.tanh(self.nvs_head(self.features(img, **kwargs), img.shape[-2:], cond=target_pose))

    def forward(self, img: Tensor, c: Tensor | None = None, geometry: bool = True,
                **kwargs: Any) -> dict[str, Any]:  # noqa: ANN401
        """Score images and decode their geometry.

        Args:
            img: ``(N, C, H, W)`` images.
            c: ``(N, c_dim)`` labels or None, passed to the wrapped discriminator.
            geometry: Also decode the geometry (False: the realness output alone, e.g. for R1).
            **kwargs: Passed to the wrapped discriminator (``pose``, ``alpha``) and, where it takes them, to
                ``features``.

        Returns:
            ``{'logits': the wrapped discriminator's output (N, 1), 'normal': (N, 3, H, W), 'depth': (N, 1, H, W)}``
            (geometry keys as configured). With ``features`` the geometry takes a second pass through the
            discriminator; with ``feature_layers`` one pass serves both.
        """
        if self.feature_layers:
            logits, feats = self._hooked_forward(img, c, **kwargs)
            return {"logits": logits, **(self._decode(feats, img.shape[-2:]) if geometry else {})}
        out = {"logits": self.module(img, c, **kwargs)}
        if geometry:
            out.update(self.geometry(img, **kwargs))
        return out

    def extra_repr(self) -> str:  # noqa: D102
        return (f"outputs={self.outputs}, in_channels={self.in_channels}, nvs_pose_dim={self.nvs_pose_dim}, "
                f"feature_layers={self.feature_layers}")


def build_geod_discriminator(d_cfg: dict | nn.Module, geod_cfg: dict | None) -> nn.Module:
    """What a GAN model does with its ``geod=dict(...)`` config key (as ``dynamic_d`` in :class:`BaseGAN`).

    Args:
        d_cfg: The discriminator config or module (already wrapped by DynamicD where that is configured).
        geod_cfg: :class:`GeometryAwareDiscriminator` arguments except ``discriminator`` (``outputs``,
            ``head_channels``, ``nvs_pose_dim``, ...); keys of the GAN's GeoD loss settings (see
            :data:`GEOD_LOSS_KEYS`) are ignored here. None returns the plain discriminator.

    Returns:
        The discriminator module, wrapped when ``geod_cfg`` is given.
    """
    disc = MODELS.build(d_cfg) if isinstance(d_cfg, dict) else d_cfg
    if geod_cfg is None:
        return disc
    args = {k: v for k, v in dict(geod_cfg).items() if k not in GEOD_LOSS_KEYS}
    return MODELS.build(dict(type="GeometryAwareDiscriminator", **args, discriminator=disc))


#: Keys a model's ``geod`` config may also carry for its losses (read by the model, not by the discriminator).
GEOD_LOSS_KEYS = ("source", "weight_start", "weight_end", "ramp_kimg", "stop_kimg", "interval", "interval_start_kimg",
                  "d_weight", "nvs_weight", "nvs_detach_target", "detach_target")


def check_geod_generator(generator: nn.Module) -> nn.Module:
    """Refuse a generator GeoD cannot supervise: a 2D one (``pose_dim == 0``) or one that renders no normals.

    The normal check runs the generator once on two latents (at its sampled poses) without gradients.

    Args:
        generator: A module implementing gen3d's generator interface.

    Returns:
        ``generator``.

    Raises:
        TypeError: The generator renders no normals.
    """
    name = type(generator).__name__
    if int(getattr(generator, "pose_dim", 0) or 0) == 0:
        raise TypeError(f"GeoD needs a 3D-aware generator that renders normals; {name} is a 2D generator "
                        "(pose_dim == 0): remove the geod config or use a 3D generator")
    device = next((p.device for p in generator.parameters()), torch.device("cpu"))
    z = torch.randn(2, int(generator.z_dim), device=device)
    c = torch.zeros(2, int(generator.c_dim), device=device) if int(getattr(generator, "c_dim", 0) or 0) else None
    pose = generator.sample_pose(2, device) if callable(getattr(generator, "sample_pose", None)) else None
    with torch.no_grad():
        out = generator(z, c, pose)
    if not isinstance(out, dict) or out.get("normal") is None:
        raise TypeError(f"GeoD needs a generator that renders normals; {name} returns no 'normal' in its "
                        "GeneratorOutput (gen3d.models.gans.generator_output)")
    return generator
