"""Tiny posed-image test data: a few views of the offline 3D set (images, depth, normals, masks, poses)."""

from __future__ import annotations

from pathlib import Path

from gen3d.datasets.shape3d_synthesis import build_shape3d_dataset


def write_pose_dataset(root: Path, num: int = 6, size: int = 16, seed: int = 0) -> Path:
    """Write ``num`` ``size x size`` views in the PoseImageDataset layout under ``root`` and return ``root``."""
    return build_shape3d_dataset(root, num=num, size=size, seed=seed)
