import pytest
import torch
from torch import nn

from gen3d.models.necks import FeatureAligner
from gen3d.registry import MODELS


def test_matches_uniad_upsampling_bilinear_at_224():
    torch.manual_seed(0)
    channels, strides = (3, 4, 5, 6), (2, 4, 8, 16)
    feats = [torch.randn(2, c, 224 // s, 224 // s) for c, s in zip(channels, strides)]
    neck = MODELS.build(dict(type="FeatureAligner", in_channels=channels, in_strides=strides))
    out = neck(feats)
    assert neck.out_channels == 18 and out.shape == (2, 18, 14, 14)
    # UniAD's MFCN: nn.UpsamplingBilinear2d(scale_factor=in_stride / 16) per map, then concat.
    expected = torch.cat([nn.UpsamplingBilinear2d(scale_factor=s / 16)(f) for f, s in zip(feats, strides)], dim=1)
    torch.testing.assert_close(out, expected)


def test_stride_32_map_is_upsampled_like_the_cifar_config():
    feats = [torch.randn(1, 2, 14, 14), torch.randn(1, 3, 7, 7)]
    out = FeatureAligner((2, 3), (16, 32))(feats)
    assert out.shape == (1, 5, 14, 14)
    torch.testing.assert_close(out[:, :2], feats[0])
    torch.testing.assert_close(out[:, 2:], nn.UpsamplingBilinear2d(scale_factor=2)(feats[1]))


def test_odd_sizes_follow_the_stride_16_map():
    # ceil-mode strides, as produced by TF "SAME" padding on a 67 x 93 input.
    feats = [torch.randn(2, 4, 34, 47), torch.randn(2, 5, 9, 12), torch.randn(2, 6, 5, 6)]
    out = FeatureAligner((4, 5, 6), (2, 8, 16))(feats)
    assert out.shape == (2, 15, 5, 6)


def test_without_a_stride_16_map_the_grid_is_derived():
    feats = [torch.randn(1, 2, 34, 47), torch.randn(1, 3, 17, 24)]
    neck = FeatureAligner((2, 3), (2, 4))
    assert neck.grid_size(feats) == (5, 6)
    assert neck(feats).shape == (1, 5, 5, 6)


def test_wrong_number_of_maps():
    with pytest.raises(ValueError):
        FeatureAligner((2, 3), (8, 16))([torch.randn(1, 2, 4, 4)])
    with pytest.raises(ValueError):
        FeatureAligner((2, 3), (8,))
