"""Datasets of the GAN family: a folder of images, unconditional or one sub-folder per class."""

from .image_folder import UNCONDITIONAL_LABEL, ImageFolderDataset

__all__ = ["UNCONDITIONAL_LABEL", "ImageFolderDataset"]
