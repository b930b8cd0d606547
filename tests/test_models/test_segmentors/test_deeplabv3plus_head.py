import pytest
import torch

from gen3d.models.segmentors import ASPP, DeepLabV3PlusHead, RepresentationHead, aspp_rates
from gen3d.registry import MODELS


@pytest.mark.parametrize("output_stride,rates", [(16, (6, 12, 18)), (8, (12, 24, 36))])
def test_aspp_rates_and_shape(output_stride, rates):
    aspp = ASPP(in_channels=12, channels=8, output_stride=output_stride).eval()
    assert aspp.dilations == rates == aspp_rates(output_stride)
    assert [b[0].dilation[0] for b in aspp.branches] == [1, *rates]
    assert [b[0].padding[0] for b in aspp.branches] == [0, *rates]
    with torch.no_grad():
        out = aspp(torch.randn(2, 12, 9, 11))
    assert out.shape == (2, 8, 9, 11)


def test_aspp_image_pool_branch_gives_global_context():
    torch.manual_seed(0)
    # 3x3 branches with rate 1 and a 1x1 projection: only the image-pooling branch links far-apart pixels.
    aspp = ASPP(in_channels=4, channels=4, dilations=(1, 1, 1)).eval()
    x = torch.randn(1, 4, 9, 9)
    y = x.clone()
    y[..., 0, 0] += 10.0
    with torch.no_grad():
        far = (aspp(x) - aspp(y))[..., 8, 8]
        aspp.image_pool[1][0].weight.zero_()
        far_without_pool = (aspp(x) - aspp(y))[..., 8, 8]
    assert far.abs().max() > 0 and far_without_pool.abs().max() == 0


@pytest.mark.parametrize("with_repr", [False, True])
def test_head_odd_sizes_and_repr_dims(with_repr):
    head = DeepLabV3PlusHead(in_channels=(24, 40), num_classes=3, channels=16, low_level_channels=8,
                             with_repr=with_repr, repr_channels=32).eval()
    low, high = torch.randn(2, 24, 17, 17), torch.randn(2, 40, 5, 5)  # a 65x67 input at strides 4 / 16
    with torch.no_grad():
        logits = head([low, high])
        logits2, rep = head.forward_with_repr([low, high])
    assert logits.shape == (2, 3, 17, 17)
    torch.testing.assert_close(logits, logits2)
    if with_repr:
        assert rep.shape == (2, 32, 17, 17)
    else:
        assert rep is None and head.repr_head is None


def test_u2pl_head_layout():
    head = MODELS.build(dict(type="DeepLabV3PlusHead", in_channels=(256, 2048), num_classes=21, low_level_channels=256,
                             dilations=(12, 24, 36), aspp_project_kernel_size=3, with_repr=True))
    assert head.aspp.project[0][0].in_channels == 1280 and head.aspp.project[0][0].kernel_size == (3, 3)
    assert head.refine[0][0].in_channels == 512  # 256 ASPP + 256 low level
    assert head.repr_head.proj.out_channels == 256 and head.repr_head.refine[0][0].in_channels == 512
    assert head.classifier.out_channels == 21


def test_representation_head():
    rep = RepresentationHead(in_channels=10, channels=6, out_channels=256).eval()
    with torch.no_grad():
        assert rep(torch.randn(1, 10, 7, 9)).shape == (1, 256, 7, 9)
