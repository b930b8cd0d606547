import torch
from torch import nn
from torch.nn import functional as F

from gen3d.models.anomaly import UniADDecoderLayer, UniADEncoderLayer, neighbor_mask


def _mha(attn: nn.Module) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(attn.embed_dim, attn.num_heads).eval()
    ref.load_state_dict(attn.state_dict())
    return ref


def test_encoder_layer_is_post_norm_with_pos_on_queries_and_keys():
    torch.manual_seed(0)
    layer = UniADEncoderLayer(16, 4, 32, 0.1).eval()
    src, pos = torch.randn(15, 2, 16), torch.randn(15, 1, 16)
    mask = neighbor_mask((3, 5), (3, 3))
    out = layer(src, pos, mask)
    assert out.shape == (15, 2, 16)
    # Reference written out: q = k = src + pos, v = src; add & norm; ReLU FFN; add & norm.
    qk = src + pos
    x = layer.norm1(src + _mha(layer.self_attn)(qk, qk, src, attn_mask=mask)[0])
    expected = layer.norm2(x + layer.linear2(F.relu(layer.linear1(x))))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_decoder_layer_matches_the_layerwise_query_definition():
    torch.manual_seed(0)
    layer = UniADDecoderLayer(15, 16, 4, 32, 0.1).eval()
    memory, prev, pos = torch.randn(15, 2, 16), torch.randn(15, 2, 16), torch.randn(15, 1, 16)
    mask = neighbor_mask((3, 5), (3, 3))
    out = layer(prev, memory, pos, mask, mask)
    assert out.shape == (15, 2, 16)
    query = layer.learned_embed.weight[:, None].expand(15, 2, 16)
    x = layer.norm1(query + _mha(layer.self_attn)(query + pos, memory + pos, memory, attn_mask=mask)[0])
    x = layer.norm2(x + _mha(layer.multihead_attn)(x + pos, prev + pos, prev, attn_mask=mask)[0])
    expected = layer.norm3(x + layer.linear2(F.relu(layer.linear1(x))))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_decoder_queries_are_learned():
    layer = UniADDecoderLayer(6, 8, 2, 16, 0.0)
    layer(torch.randn(6, 3, 8), torch.randn(6, 3, 8), torch.randn(6, 1, 8)).sum().backward()
    assert layer.learned_embed.weight.shape == (6, 8)  # one table of H*W queries, shared over the batch
    assert layer.learned_embed.weight.grad.abs().sum() > 0


def test_dropout_only_in_training():
    torch.manual_seed(0)
    layer = UniADEncoderLayer(8, 2, 16, 0.5)
    src, pos = torch.randn(6, 2, 8), torch.randn(6, 1, 8)
    layer.eval()
    torch.testing.assert_close(layer(src, pos), layer(src, pos))
    layer.train()
    assert not torch.allclose(layer(src, pos), layer(src, pos))


def test_state_dict_names_follow_the_official_code():
    keys = set(UniADDecoderLayer(4, 8, 2, 16).state_dict())
    for name in (
        "learned_embed.weight",
        "self_attn.in_proj_weight",
        "self_attn.out_proj.weight",
        "multihead_attn.in_proj_bias",
        "linear1.weight",
        "linear2.bias",
        "norm3.weight",
    ):
        assert name in keys
