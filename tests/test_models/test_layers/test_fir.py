import pytest
import torch
from torch.nn import functional as F

from gen3d.models.layers.fir import conv2d_resample, downsample2d, setup_filter, upfirdn2d, upsample2d


def test_setup_filter_is_normalised_outer_product():
    f = setup_filter()
    assert f.shape == (4, 4)
    assert torch.allclose(f.sum(), torch.tensor(1.0))
    assert torch.allclose(f, f.t())


def test_resampling_keeps_shapes_and_mean():
    f = setup_filter()
    x = torch.ones(2, 3, 8, 8)
    up, down = upsample2d(x, f), downsample2d(x, f)
    assert up.shape == (2, 3, 16, 16) and down.shape == (2, 3, 4, 4)
    # Away from the zero-padded border a constant stays constant (unit DC gain, up ** 2 gain for zero insertion).
    assert torch.allclose(up[..., 3:-3, 3:-3], torch.ones(1)) and torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1))


def test_negative_padding_crops():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    one = torch.ones(1, 1)
    assert torch.equal(upfirdn2d(x, one, padding=(-1, -2, -1, 0)), x[..., 1:, 1:-2])


@pytest.mark.parametrize("k", [1, 3])
def test_down_conv_matches_generic_reference(k):
    # Generic path (stylegan2-ada conv2d_resample fallback): pad + conv, then FIR and stride.
    torch.manual_seed(0)
    f, x, w = setup_filter(), torch.randn(2, 3, 8, 8), torch.randn(5, 3, k, k)
    p = k // 2 + 1
    ref = upfirdn2d(F.conv2d(F.pad(x, [p] * 4), w), f, down=2)
    assert torch.allclose(conv2d_resample(x, w, f, down=2), ref, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_up_conv_matches_generic_reference(k):
    # Generic path with flip_weight=False (true convolution) used for up-sampling layers in stylegan2-ada.
    torch.manual_seed(0)
    f, x, w = setup_filter(), torch.randn(2, 3, 5, 5), torch.randn(4, 3, k, k)
    p0, p1 = k // 2 + 2, k // 2 + 1
    ref = F.conv2d(upfirdn2d(x, f, up=2, padding=(p0, p1, p0, p1), gain=4), w.flip([2, 3]))
    out = conv2d_resample(x, w, f, up=2)
    assert out.shape == (2, 4, 10, 10)
    assert torch.allclose(out, ref, atol=1e-5)  # k=1: the fast path convolves first, k=3: transposed conv


def test_grouped_up_conv_equals_per_group_convs():
    torch.manual_seed(0)
    f, x, w = setup_filter(), torch.randn(1, 6, 4, 4), torch.randn(8, 3, 3, 3)
    out = conv2d_resample(x, w, f, up=2, groups=2)
    ref = torch.cat([conv2d_resample(x[:, :3], w[:4], f, up=2), conv2d_resample(x[:, 3:], w[4:], f, up=2)], 1)
    assert torch.allclose(out, ref, atol=1e-5)
