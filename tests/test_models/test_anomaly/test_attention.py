import pytest
import torch
from torch import nn

from gen3d.models.anomaly import FastDropout, MaskedMultiheadAttention, fast_dropout, neighbor_mask


@pytest.mark.parametrize("with_mask", [True, False])
def test_matches_nn_multihead_attention(with_mask):
    torch.manual_seed(0)
    ours = MaskedMultiheadAttention(16, 4, dropout=0.1).eval()
    ref = nn.MultiheadAttention(16, 4, dropout=0.1).eval()
    ref.load_state_dict(ours.state_dict())
    q, k, v = torch.randn(3, 12, 2, 16).unbind(0)
    mask = neighbor_mask((3, 4), (3, 3)) if with_mask else None
    expected = ref(q, k, v, attn_mask=mask, need_weights=False)[0]
    torch.testing.assert_close(ours(q, k, v, attn_mask=mask), expected, atol=1e-6, rtol=1e-5)


def test_fast_dropout_statistics_and_eval_identity():
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = fast_dropout(x, 0.1)
    assert abs(float((y == 0).float().mean()) - 0.1) < 0.005
    assert abs(float(y.mean()) - 1.0) < 0.01
    p16 = 6554 / 65536  # 0.1 rounded to 16 bits
    assert torch.unique(y).tolist() == [0.0, pytest.approx(1 / (1 - p16), rel=1e-7)]
    assert fast_dropout(x, 0.1, training=False) is x
    assert fast_dropout(x, 0.0) is x
    with pytest.raises(ValueError):
        fast_dropout(x, 1.0)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_fast_dropout_lanes_are_independent_and_unbiased(p):
    """Each int64 word feeds four neighbouring elements: their drops must be independent Bernoulli(p)."""
    torch.manual_seed(1)
    n = 400_000
    dropped = (fast_dropout(torch.ones(n), p) == 0).reshape(-1, 4).float()
    sd = (p * (1 - p) / n) ** 0.5
    assert abs(float(dropped.mean()) - p) < 5 * sd
    for lane in range(4):  # every 16-bit lane of the word, including the sign-carrying one
        assert abs(float(dropped[:, lane].mean()) - p) < 5 * 2 * sd
    for a, b in ((0, 1), (1, 2), (2, 3), (0, 3)):  # pairs within a word: P(both) = p^2
        both = float((dropped[:, a] * dropped[:, b]).mean())
        assert abs(both - p * p) < 5 * (p * p * (1 - p * p) / (n // 4)) ** 0.5
    y = fast_dropout(torch.ones(2, 3, 5), p)  # a size that is not a multiple of four
    assert y.shape == (2, 3, 5) and torch.unique(y[y != 0]).numel() <= 1


def test_fast_dropout_outside_16_bits_is_f_dropout():
    torch.manual_seed(0)
    x = torch.ones(100_000)
    y = fast_dropout(x, 1e-6)  # rounds to 0 of 2^16: F.dropout keeps the requested probability
    assert torch.unique(y).tolist() in ([pytest.approx(1 / (1 - 1e-6))], [0.0, pytest.approx(1 / (1 - 1e-6))])


def test_fast_dropout_gradient_uses_the_same_mask():
    torch.manual_seed(0)
    x = torch.randn(1000, requires_grad=True)
    y = FastDropout(0.5).train()(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y != 0).float() * 2.0)
    assert FastDropout(0.5).eval()(x) is x
