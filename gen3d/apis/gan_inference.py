"""Sample a trained GAN generator: seeded latents, truncation, image grids and latent interpolation videos.

Generators are used through the one generator interface (:mod:`gen3d.models.gans.generator_output`); the seeded
sampling itself lives in :mod:`gen3d.models.gans.sampling` (re-exported here), below both ``apis`` and the engine's
hooks. Only the w-space interpolation needs a StyleGAN-style generator (``mapping`` / ``synthesis``). Images leave
as uint8 with stylegan2-ada's rounding, ``clamp(x * 127.5 + 128, 0, 255)``.
"""

from __future__ import annotations

import os.path as osp

import numpy as np
import torch
from torch import nn

from gen3d.models.gans.generator_output import check_generator
from gen3d.models.gans.sampling import class_onehot, generate, generate_outputs, seed_latents, seed_poses, to_uint8

__all__ = ["class_onehot", "generate", "generate_outputs", "interpolation_frames", "load_generator", "make_grid",
           "save_image", "seed_latents", "seed_poses", "slerp", "to_uint8", "write_animation"]


def load_generator(checkpoint: str, config: str | None = None, device: str = "cpu", ema: bool = True) -> nn.Module:
    """The generator of a GAN checkpoint written by ``tools/train.py`` (the EMA generator by default).

    Args:
        checkpoint: ``.pth`` file (loaded with ``weights_only``; see :func:`gen3d.apis.inference.init_model`).
        config: Config file; None uses the one saved in the checkpoint.
        device: Torch device.
        ema: Take ``generator_ema`` (what GAN papers sample and evaluate); False takes the raw ``generator``.

    Returns:
        The generator in eval mode.

    Raises:
        ValueError: The checkpoint holds no GAN (no ``generator`` sub-module).
        TypeError: Its generator does not implement the generator interface.
    """
    from gen3d.apis.inference import init_model

    model = init_model(checkpoint, config, device)
    name = "generator_ema" if ema else "generator"
    gen = getattr(model, name, None)
    if not isinstance(gen, nn.Module):
        raise ValueError(f"checkpoint {checkpoint} holds a {type(model).__name__}, which has no {name}")
    check_generator(gen)
    gen.cfg = model.cfg
    return gen.eval()


def make_grid(images: torch.Tensor | np.ndarray, nrow: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile uint8 images ``[N, C, H, W]`` into one ``(rows*H, nrow*W, C)`` uint8 array (empty cells black).

    Args:
        images: uint8 ``[N, C, H, W]``.
        nrow: Images per row; None is ``ceil(sqrt(N))``.
        pad: Pixels between cells.
    """
    from gen3d.runtime.generation import make_grid as make_grid_nhwc

    arr = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    return make_grid_nhwc(arr.transpose(0, 2, 3, 1), nrow, pad)


def save_image(img: np.ndarray, path: str) -> str:
    """Write an ``(H, W, 1|3)`` uint8 RGB / grey array as PNG (or any PIL format by extension); returns ``path``."""
    from PIL import Image

    Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img).save(path)
    return path


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents ``a`` and ``b`` ``[..., D]`` at ``t`` (a float or ``[..., 1]``).

    Falls back to lerp when the latents are parallel.
    """
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


@torch.no_grad()
def interpolation_frames(gen: nn.Module, z: torch.Tensor, steps: int = 16, space: str = "w",
                         c: torch.Tensor | None = None, truncation_psi: float = 1.0, loop: bool = True,
                         progress: bool = False, pose: torch.Tensor | None = None) -> torch.Tensor:
    """Frames through the key latents ``z`` ``[K, z_dim]``: slerp in z, or lerp in w (after mapping + truncation).

    Args:
        gen: The generator.
        z: Key latents, visited in order (and back to the first when ``loop``).
        steps: Frames per segment between two keys.
        space: ``'z'`` (slerp of latents; any generator) or ``'w'`` (lerp of the mapped ``ws``; StyleGAN's smoother
            path, needs ``mapping`` / ``synthesis``).
        c: Labels ``[1, c_dim]`` for a conditional generator (same class along the path).
        truncation_psi: Truncation applied in the mapping.
        loop: Close the path.
        progress: Show a tqdm bar.
        pose: One camera pose ``[1, pose_dim]`` kept along the path (3D-aware generators, ``space='z'``).

    Returns:
        uint8 frames ``[F, C, R, R]``, ``F = steps * segments``.
    """
    from tqdm import tqdm

    if space not in ("z", "w"):
        raise ValueError(f"space must be 'z' or 'w', got {space!r}")
    device = next(gen.parameters()).device
    keys = torch.cat([z, z[:1]]) if loop else z
    ck = None if c is None else c[:1].to(device)
    frames = []
    for i in tqdm(range(len(keys) - 1), desc="interpolate", disable=not progress):
        a, b = keys[i:i + 1].to(device), keys[i + 1:i + 2].to(device)
        if space == "w":
            wa = gen.mapping(a, ck, truncation_psi=truncation_psi)
            wb = gen.mapping(b, ck, truncation_psi=truncation_psi)
        t = (torch.arange(steps, dtype=torch.float32, device=device) / steps).view(-1, 1)
        if space == "w":  # one batch per segment: wa, wb [1, num_ws, w_dim] -> [steps, num_ws, w_dim]
            img = gen.synthesis(torch.lerp(wa, wb, t.view(-1, 1, 1)), noise_mode="const")
        else:
            cs = None if ck is None else ck.expand(steps, -1)
            ps = None if pose is None else pose[:1].to(device).expand(steps, -1)
            img = gen(slerp(a.expand(steps, -1), b.expand(steps, -1), t), cs, ps, truncation_psi=truncation_psi,
                      noise_mode="const").image
        frames.append(to_uint8(img).cpu())
    return torch.cat(frames)


def write_animation(frames: torch.Tensor | np.ndarray, path: str, fps: int = 24, scale: int = 1) -> str:
    """Write uint8 frames ``[F, C, H, W]`` as a GIF (PIL) or an MP4 / AVI (OpenCV ``VideoWriter``).

    Args:
        frames: The frames (1 or 3 channels, RGB).
        path: ``.gif``, ``.mp4`` or ``.avi``.
        fps: Frames per second.
        scale: Integer nearest-neighbour up-scaling (small GAN images are hard to see).

    Returns:
        ``path``.
    """
    arr = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    arr = arr.transpose(0, 2, 3, 1).repeat(scale, 1).repeat(scale, 2)
    if arr.shape[3] == 1:
        arr = arr.repeat(3, 3)
    ext = osp.splitext(path)[1].lower()
    if ext == ".gif":
        from PIL import Image

        pics = [Image.fromarray(f) for f in arr]
        pics[0].save(path, save_all=True, append_images=pics[1:], duration=round(1000 / fps), loop=0)
        return path
    if ext not in (".mp4", ".avi"):
        raise ValueError(f"unsupported animation format {ext!r}: use .gif, .mp4 or .avi")
    import cv2

    h, w = arr.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*("mp4v" if ext == ".mp4" else "MJPG")), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path} (codec not available); use a .gif")
    try:
        for f in arr:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
