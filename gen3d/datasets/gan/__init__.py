"""Datasets of the GAN family: a folder of images, unconditional or one sub-folder per class."""

from .image_folder import UNCONDITIONAL_LABEL, ImageFolderDataset
from .pose_dataset import PoseImageDataset

__all__ = ["UNCONDITIONAL_LABEL", "ImageFolderDataset", "PoseImageDataset"]
