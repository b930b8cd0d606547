"""Sampling through the generator interface: seeded latents, class labels, uint8 images.

These sit below ``gen3d.apis`` and ``gen3d.engine`` (both use them; neither imports the other for them). Images leave
as uint8 with stylegan2-ada's rounding, ``clamp(x * 127.5 + 128, 0, 255)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .generator_output import GeneratorOutput


def seed_latents(seeds: Sequence[int], z_dim: int) -> Tensor:
    """One standard-normal latent per seed, the latents a generator bundle draws for the same seeds.

    Seed ``s`` gives ``numpy.random.default_rng(s).standard_normal(z_dim)``
    (:func:`gen3d.runtime.generation.seed_latents`), so ``tools/gan/generate.py --seeds 0-15`` on a checkpoint and
    ``python -m gen3d.runtime BUNDLE --seeds 0-15`` draw the same latents and show the same images.

    Returns:
        ``z`` ``[len(seeds), z_dim]`` float32.
    """
    from gen3d.runtime.generation import seed_latents as numpy_latents

    return torch.from_numpy(numpy_latents(list(seeds), int(z_dim)))


def class_onehot(c_dim: int, class_idx: int | None, n: int) -> Tensor | None:
    """Labels ``c`` ``[n, c_dim]`` (one-hot of ``class_idx``) for a conditional generator, None otherwise.

    Raises:
        ValueError: A conditional generator without a class, or a class out of range.
    """
    if c_dim == 0:
        if class_idx is not None:
            raise ValueError("the generator is unconditional (c_dim 0): drop the class index")
        return None
    if class_idx is None or not 0 <= class_idx < c_dim:
        raise ValueError(f"the generator is conditional: pass a class index in [0, {c_dim}), got {class_idx}")
    c = torch.zeros(n, c_dim)
    c[:, class_idx] = 1.0
    return c


def seed_poses(gen: nn.Module, seeds: Sequence[int]) -> Tensor | None:
    """One pose per seed from the generator's pose distribution, ``[len(seeds), pose_dim]``; None for 2D generators.

    A generator with ``pose_distribution()`` (pi-GAN, GeoD, DepthGAN) draws as a bundle does
    (:func:`gen3d.runtime.generation.seed_poses`: ``numpy.random.default_rng((s, 1))``), so a checkpoint and its
    bundle render the same seed from the same camera; any other draws from ``sample_pose`` with
    ``torch.Generator().manual_seed(s)``.
    """
    if not int(getattr(gen, "pose_dim", 0)):
        return None
    if hasattr(gen, "pose_distribution"):
        from gen3d.runtime.generation import seed_poses as numpy_poses

        return torch.from_numpy(numpy_poses(list(seeds), gen.pose_distribution()))
    return torch.cat([gen.sample_pose(1, "cpu", generator=torch.Generator().manual_seed(int(s))) for s in seeds])


def cycle_classes(c_dim: int, n: int) -> Tensor | None:
    """One-hot labels ``[n, c_dim]`` cycling through the classes (None when unconditional)."""
    return torch.eye(c_dim)[torch.arange(n) % c_dim] if c_dim else None


def to_uint8(img: Tensor) -> Tensor:
    """``[N, C, H, W]`` float in ``[-1, 1]`` -> uint8 ``[N, C, H, W]`` (stylegan2-ada's rounding)."""
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def generate_outputs(gen: nn.Module, z: Tensor, c: Tensor | None = None, pose: Tensor | None = None,
                     truncation_psi: float = 1.0, noise_mode: str = "const",
                     batch_size: int = 16, progress: bool = False) -> GeneratorOutput:
    """The generator's output maps for latents ``z [N, z_dim]``, computed in batches, on the CPU.

    Args:
        gen: A generator (interface of :mod:`.generator_output`).
        z: Latents ``[N, z_dim]``.
        c: Labels ``[N, c_dim]`` of a conditional generator.
        pose: Camera poses ``[N, pose_dim]`` of a 3D-aware generator.
        truncation_psi: Truncation (1: none).
        noise_mode: ``'const'`` (deterministic) or ``'random'``.
        batch_size: Latents per forward.
        progress: Show a tqdm bar.

    Returns:
        A :class:`GeneratorOutput` with the image ``[N, C, R, R]`` and, where the generator has them, depth, normal
        and mask (``features`` are dropped).
    """
    from tqdm import tqdm

    device = next(gen.parameters()).device
    parts: dict[str, list[Tensor]] = {}
    for i in tqdm(range(0, len(z), batch_size), desc="generate", disable=not progress):
        ci = None if c is None else c[i:i + batch_size].to(device)
        pi = None if pose is None else pose[i:i + batch_size].to(device)
        out = gen(z[i:i + batch_size].to(device), ci, pi, truncation_psi=truncation_psi, noise_mode=noise_mode)
        for name, value in out.maps().items():
            parts.setdefault(name, []).append(value.cpu())
    return GeneratorOutput(**{name: torch.cat(values) for name, values in parts.items()})


def generate(gen: nn.Module, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1.0,
             noise_mode: str = "const", batch_size: int = 16, progress: bool = False,
             pose: Tensor | None = None) -> Tensor:
    """Images for latents ``z`` ``[N, z_dim]`` (labels ``c`` ``[N, c_dim]``) as uint8 ``[N, C, R, R]``."""
    out = generate_outputs(gen, z, c, pose, truncation_psi, noise_mode, batch_size, progress)
    return to_uint8(out.image)
