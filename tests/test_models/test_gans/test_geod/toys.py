"""Toys for the GeoD tests: a feature-exposing discriminator, generators, and shaded spheres with true normals."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen3d.models.gans.generator_output import GeneratorOutput


class ToyFeatureD(nn.Module):
    """pi-GAN-like D: ``features(img, alpha)`` fine to coarse, ``forward(img, c=None, pose=None, alpha=1.0)``."""

    def __init__(self, resolution: int = 16, channels: tuple[int, ...] = (4, 6, 8)) -> None:
        super().__init__()
        self.resolution = resolution
        cins = (3,) + channels[:-1]
        self.blocks = nn.ModuleList(nn.Conv2d(ci, co, 3, 2, 1) for ci, co in zip(cins, channels))
        self.out = nn.Linear(channels[-1], 1)
        self.seen_alpha, self.seen_pose = None, None

    def features(self, img: Tensor, alpha: float = 1.0) -> list[Tensor]:
        self.seen_alpha = alpha
        feats, x = [], img
        for block in self.blocks:
            x = F.leaky_relu(block(x), 0.2)
            feats.append(x)
        return feats

    def forward(self, img: Tensor, c: Tensor | None = None, pose: Tensor | None = None, alpha: float = 1.0) -> Tensor:
        self.seen_pose = pose
        return self.out(self.features(img, alpha)[-1].mean((2, 3)))


class ToyGenerator(nn.Module):
    """Generator interface; ``pose_dim`` and whether it renders normals are chosen."""

    def __init__(self, pose_dim: int = 2, normals: bool = True, resolution: int = 8) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.pose_dim, self.img_resolution, self.img_channels = 4, 0, pose_dim, resolution, 3
        self.normals = normals
        self.fc = nn.Linear(4, 3 * resolution * resolution)

    def sample_pose(self, num: int, device=None, generator=None) -> Tensor:
        return torch.zeros(num, self.pose_dim, device=device)

    def forward(self, z: Tensor, c=None, pose=None, **kwargs) -> GeneratorOutput:
        img = self.fc(z).view(-1, 3, self.img_resolution, self.img_resolution).tanh()
        return GeneratorOutput(img, normal=F.normalize(img, dim=1) if self.normals else None)


def shaded_spheres(n: int, size: int = 16, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Lambertian spheres in front of a flat wall, near-orthographic normals (x right, y up, +z to the viewer).

    Returns:
        images ``(n, 3, size, size)`` in ``[-1, 1]``, normals ``(n, 3, size, size)``, masks ``(n, 1, size, size)``.
    """
    g = torch.Generator().manual_seed(seed)
    v, u = torch.meshgrid(torch.linspace(1, -1, size), torch.linspace(-1, 1, size), indexing="ij")
    imgs, normals, masks = [], [], []
    for _ in range(n):
        r = 0.45 + 0.3 * torch.rand((), generator=g)
        cy = 0.2 * (torch.rand((), generator=g) - 0.5)
        du, dv = u / r, (v - cy) / r
        inside = du ** 2 + dv ** 2 < 1
        nz = torch.sqrt((1 - du ** 2 - dv ** 2).clamp(min=0))
        normal = torch.where(inside, torch.stack([du, dv, nz]), torch.tensor([0.0, 0.0, 1.0])[:, None, None])
        ang = 2 * math.pi * torch.rand((), generator=g)
        light = F.normalize(torch.stack([0.6 * torch.cos(ang), 0.6 * torch.sin(ang), torch.tensor(1.0)]), dim=0)
        albedo = 0.4 + 0.5 * torch.rand(3, 1, 1, generator=g)
        shading = 0.3 + 0.7 * (normal * light[:, None, None]).sum(0, keepdim=True).clamp(min=0)
        imgs.append((albedo * shading) * 2 - 1)
        normals.append(normal)
        masks.append(inside[None].float())
    return torch.stack(imgs), torch.stack(normals), torch.stack(masks)
