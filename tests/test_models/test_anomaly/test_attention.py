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
    assert torch.unique(y).tolist() == [0.0, pytest.approx(1 / 0.9)]
    assert fast_dropout(x, 0.1, training=False) is x
    assert fast_dropout(x, 0.0) is x
    with pytest.raises(ValueError):
        fast_dropout(x, 1.0)


def test_fast_dropout_gradient_uses_the_same_mask():
    torch.manual_seed(0)
    x = torch.randn(1000, requires_grad=True)
    y = FastDropout(0.5).train()(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y != 0).float() * 2.0)
    assert FastDropout(0.5).eval()(x) is x
