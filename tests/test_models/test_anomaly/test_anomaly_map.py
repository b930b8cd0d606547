import pytest
import torch
from torch import nn
from torch.nn import functional as F

from gen3d.models.anomaly import ReconstructionAnomalyMap, max_pooled_score, reconstruction_anomaly_map


def test_map_is_uniad_l2_then_upsampling_bilinear():
    torch.manual_seed(0)
    feats, rec = torch.randn(2, 272, 14, 14), torch.randn(2, 272, 14, 14)
    amap = reconstruction_anomaly_map(feats, rec, (224, 224))
    expected = nn.UpsamplingBilinear2d(scale_factor=16)(torch.sqrt(((rec - feats) ** 2).sum(dim=1, keepdim=True)))
    assert amap.shape == (2, 1, 224, 224)
    torch.testing.assert_close(amap, expected)


def test_score_is_max_of_16x16_box_average():
    amap = torch.zeros(2, 1, 40, 40)
    amap[0, 0, 5, 5] = 256.0  # one hot pixel: every 16x16 window containing it averages to 1
    amap[1, 0, 10:26, 20:36] = 2.0  # a 16x16 block: the best window averages to 2
    score = max_pooled_score(amap)
    torch.testing.assert_close(score, torch.tensor([1.0, 2.0]))
    assert F.avg_pool2d(amap, 16, stride=1).shape[-1] == 25  # stride 1, no padding


def test_module_on_odd_input_size():
    head = ReconstructionAnomalyMap((37, 45))
    amap, score = head(torch.randn(3, 5, 3, 3), torch.randn(3, 5, 3, 3))
    assert amap.shape == (3, 1, 37, 45) and score.shape == (3,)
    assert bool((amap >= 0).all())
    with pytest.raises(ValueError):
        ReconstructionAnomalyMap((8, 64))
