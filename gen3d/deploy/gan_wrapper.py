"""Exportable GAN generator: latents (+ one-hot class, + camera pose) and truncation psi in, maps out.

The wrapper uses the one generator interface (:mod:`gen3d.models.gans.generator_output`) and nothing else of the
generator. Graph (``GeneratorEnd2End``)::

    z               float32 [N, z_dim]     standard-normal latents
                 or z_depth [N, z_dim_depth], z_rgb [N, z_dim_rgb]  a two-latent generator (DepthGAN's
                                           z = [z_depth, z_rgb]; the graph concatenates them)
    c               float32 [N, c_dim]     one-hot class labels (conditional generators only)
    pose            float32 [N, pose_dim]  camera poses (3D-aware generators only)
                 or yaw     [N, 1]         a generator whose pose is one angle (DepthGAN: pose_distribution()
                                           'order' == ['yaw']; the input takes the angle's name)
    truncation_psi  float32 [1]            w = w_avg + psi * (w - w_avg); a required input, its default in the
                                           manifest (the runtime feeds it when not given)
    ->
    image           uint8 [N, R, R, C]     RGB / grey, stylegan2-ada's rounding clamp(x * 127.5 + 128, 0, 255)
                 or float32 [N, C, R, R]   the raw generator image, about [-1, 1] (``output='float'``)
    depth, normal, mask  float32 NCHW      where the generator has them (``GeneratorOutput`` field names)

The generator runs with constant noise (``noise_mode='const'``), so the graph is deterministic: the same latent gives
the same image in PyTorch and in ONNX Runtime. ``truncation_psi`` reaches the generator as a tensor, so psi is a graph
input instead of a constant folded at export; ``truncation_cutoff`` (truncate only the first ``cutoff`` ws) is fixed
at export.

The parity gates against the generator's own forward (:func:`reference_maps`) are
:func:`gen3d.deploy.parity.check_gan_parity` and :func:`gen3d.deploy.parity.gate_backend`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from gen3d.models.gans.generator_output import INTERFACE_ATTRIBUTES, check_generator

OUTPUTS = ("uint8", "float")
IMAGE_MEANING = {
    "uint8": "generated image, NHWC, clamp(x * 127.5 + 128, 0, 255) of the synthesis output x",
    "float": "raw synthesis output, NCHW, about [-1, 1]",
}
#: Channels and meaning of the other maps a generator may output (``GeneratorOutput`` fields).
MAP_CHANNELS = {"depth": 1, "normal": 3, "mask": 1}
MAP_MEANING = {"depth": "depth (distance along the ray, or along the camera axis where the generator's depth_kind is "
                        "'z'), NCHW", "normal": "unit camera-space surface normals, NCHW",
               "mask": "foreground opacity in [0, 1], NCHW"}


def generator_of(model: nn.Module) -> tuple[nn.Module, str]:
    """The generator to export: ``generator_ema`` of a GAN model, ``generator``, or the module itself."""
    for name in ("generator_ema", "generator"):
        gen = getattr(model, name, None)
        if isinstance(gen, nn.Module):
            return check_generator(gen), name
    if all(hasattr(model, a) for a in INTERFACE_ATTRIBUTES):
        return model, "generator"
    raise ValueError(f"{type(model).__name__} has no generator to export (generator_ema / generator)")


def latent_inputs(generator: nn.Module) -> tuple[tuple[str, int], ...]:
    """The graph's latent inputs ``((name, width), ...)``, in the order they make up the generator's ``z``.

    ``(('z', z_dim),)``, or ``(('z_depth', z_dim_depth), ('z_rgb', z_dim_rgb))`` for a generator whose ``z`` is two
    latents concatenated (DepthGAN: its ``z_dim_depth`` and ``z_dim_rgb`` attributes).
    """
    if hasattr(generator, "z_dim_depth") and hasattr(generator, "z_dim_rgb"):
        return (("z_depth", int(generator.z_dim_depth)), ("z_rgb", int(generator.z_dim_rgb)))
    return (("z", int(generator.z_dim)),)


def pose_input(generator: nn.Module) -> str | None:
    """Name of the pose input: None (2D generator), ``'pose'``, or the angle's name when the pose is one angle.

    A one-angle pose is read from ``pose_distribution()['order']`` (DepthGAN: ``['yaw']`` -> ``'yaw'``).
    """
    if not int(getattr(generator, "pose_dim", 0)):
        return None
    dist = getattr(generator, "pose_distribution", None)
    order = list(dist().get("order") or []) if callable(dist) else []
    return str(order[0]) if len(order) == 1 and int(generator.pose_dim) == 1 else "pose"


def generator_args(generator: nn.Module, feeds: Mapping[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
    """Graph feeds -> the generator's ``(z, c, pose)`` tensors (``c``, ``pose`` None where absent).

    Args:
        generator: The exported generator.
        feeds: ``{input name: array}`` as :func:`example_feeds` makes them.

    Returns:
        ``z (N, z_dim)`` (two-latent generators: the latents concatenated), ``c (N, c_dim)``, ``pose (N, pose_dim)``.
    """
    parts = [torch.from_numpy(np.asarray(feeds[name])) for name, _ in latent_inputs(generator)]
    pose_name = pose_input(generator)
    c = torch.from_numpy(feeds["c"]) if "c" in feeds else None
    pose = torch.from_numpy(feeds[pose_name]) if pose_name in feeds else None
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1), c, pose


def to_uint8_nhwc(img: torch.Tensor) -> torch.Tensor:
    """``[N, C, R, R]`` float about ``[-1, 1]`` -> uint8 ``[N, R, R, C]``."""
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def output_maps(out: Mapping[str, torch.Tensor], output: str) -> tuple[torch.Tensor, ...]:
    """The graph outputs of a :class:`GeneratorOutput`: the image (uint8 NHWC or float NCHW), then the other maps."""
    maps = out.maps()
    image = to_uint8_nhwc(maps.pop("image")) if output == "uint8" else maps.pop("image")
    return (image, *maps.values())


class GeneratorEnd2End(nn.Module):
    """``(z | z_depth, z_rgb, [c,] [pose | yaw,] truncation_psi) -> (image, [depth, normal, mask])`` (module doc).

    Args:
        generator: A generator (the interface of :mod:`gen3d.models.gans.generator_output`).
        output: ``'uint8'`` (NHWC image) or ``'float'`` (NCHW image).
        truncation_cutoff: Truncate only the first ``cutoff`` ws (None: all).
    """

    def __init__(self, generator: nn.Module, output: str = "uint8", truncation_cutoff: int | None = None) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.generator = check_generator(generator)
        self.output = output
        self.truncation_cutoff = truncation_cutoff
        self.c_dim = int(generator.c_dim)
        self.pose_dim = int(generator.pose_dim)
        self.z_dim = int(generator.z_dim)
        self.latents = latent_inputs(generator)
        self.pose_name = pose_input(generator)

    @property
    def input_names(self) -> tuple[str, ...]:
        """Graph input names, in ``forward`` order."""
        return (*(name for name, _ in self.latents), *(("c",) if self.c_dim else ()),
                *((self.pose_name,) if self.pose_name else ()), "truncation_psi")

    def _run(self, args: Sequence[torch.Tensor]) -> Mapping[str, torch.Tensor]:
        named = dict(zip(self.input_names, args))
        parts = [named[name] for name, _ in self.latents]
        z = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        return self.generator(z, named.get("c"), named.get(self.pose_name), truncation_psi=named["truncation_psi"],
                              truncation_cutoff=self.truncation_cutoff, noise_mode="const")

    @torch.no_grad()
    def output_names(self, args: Sequence[torch.Tensor]) -> tuple[str, ...]:
        """Graph output names for example inputs ``args`` (:attr:`input_names` order): ``image``, then other maps."""
        return tuple(self._run(args).maps())

    def forward(self, z: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Latents ``[N, z_dim]`` (or ``z_depth``, ``z_rgb``), (``c``,) (``pose``,) ``truncation_psi`` -> the maps."""
        maps = output_maps(self._run((z, *rest)), self.output)
        return maps[0] if len(maps) == 1 else maps


def example_feeds(generator: nn.Module, n: int, psi: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded graph inputs by name: ``n`` latents, one-hot classes cycling through ``c_dim``, poses, and ``psi``.

    The latents are one ``z`` draw split into the graph's latent inputs (:func:`latent_inputs`).
    """
    torch_gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, int(generator.z_dim), generator=torch_gen).numpy()
    feeds, start = {}, 0
    for name, width in latent_inputs(generator):  # ('z', z_dim), or DepthGAN's z = [z_depth, z_rgb]
        feeds[name], start = np.ascontiguousarray(z[:, start:start + width]), start + width
    c_dim = int(getattr(generator, "c_dim", 0))
    if c_dim:
        feeds["c"] = np.eye(c_dim, dtype=np.float32)[np.arange(n) % c_dim]
    if int(getattr(generator, "pose_dim", 0)):
        feeds[pose_input(generator)] = generator.sample_pose(n, "cpu", generator=torch_gen).float().numpy()
    feeds["truncation_psi"] = np.array([psi], np.float32)
    return feeds


@torch.no_grad()
def reference_maps(generator: nn.Module, feeds: Mapping[str, np.ndarray], output: str,
                   truncation_cutoff: int | None = None, batch_size: int = 8) -> dict[str, np.ndarray]:
    """What every graph output must be, from the generator's own ``forward`` (constant noise, the fed poses).

    Returns:
        ``{'image': ..., 'depth': ..., ...}``: the image as :func:`output_maps` makes it, then the other maps.
    """
    psi = float(feeds["truncation_psi"][0])
    out: dict[str, list[torch.Tensor]] = {}
    for i in range(0, len(feeds[latent_inputs(generator)[0][0]]), batch_size):
        part = {k: v[i:i + batch_size] for k, v in feeds.items() if k != "truncation_psi"}
        z, c, pose = generator_args(generator, part)
        res = generator(z, c, pose, truncation_psi=psi, truncation_cutoff=truncation_cutoff, noise_mode="const")
        for name, value in zip(res.maps(), output_maps(res, output)):
            out.setdefault(name, []).append(value)
    return {name: torch.cat(values).numpy() for name, values in out.items()}


def reference_images(generator: nn.Module, feeds: Mapping[str, np.ndarray], output: str,
                     truncation_cutoff: int | None = None, batch_size: int = 8) -> np.ndarray:
    """What the graph's ``image`` must be, from the generator's own ``forward`` (constant noise)."""
    return reference_maps(generator, feeds, output, truncation_cutoff, batch_size)["image"]
