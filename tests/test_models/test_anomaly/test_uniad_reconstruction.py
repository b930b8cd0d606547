import pytest
import torch
from torch import nn

from gen3d.models.anomaly import UniADReconstruction
from gen3d.registry import MODELS

TINY = dict(hidden_dim=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=32)


def test_paper_defaults():
    rec = MODELS.build(dict(type="UniADReconstruction"))
    assert rec.in_channels == 272 and rec.grid_size == (14, 14) and rec.neighbor_size == (7, 7)
    assert len(rec.encoder) == 4 and len(rec.decoder) == 4
    assert rec.input_proj.out_features == 256 and rec.output_proj.out_features == 272
    assert rec.decoder[0].learned_embed.weight.shape == (196, 256)
    assert rec.encoder[0].linear1.out_features == 1024 and rec.encoder[0].self_attn.num_heads == 8
    assert rec.mask_attentions == (True, True, True) and rec.jitter_scale == 20.0 and rec.jitter_prob == 1.0
    assert rec.attn_mask.shape == (196, 196)
    assert "attn_mask" not in rec.state_dict()  # derived buffer, not a checkpoint entry
    assert isinstance(rec.decoder_norm, nn.LayerNorm)


def test_shapes_on_an_odd_grid():
    rec = UniADReconstruction(in_channels=24, grid_size=(3, 5), neighbor_size=(1, 3), **TINY).eval()
    features = torch.randn(2, 24, 3, 5)
    out = rec(features)
    assert out.shape == (2, 24, 3, 5)
    with pytest.raises(ValueError):
        rec(torch.randn(2, 24, 5, 3))


def test_init_is_xavier_with_zero_bias():
    rec = UniADReconstruction(in_channels=24, grid_size=(4, 4), **TINY)
    for module in rec.modules():
        if isinstance(module, nn.Linear):
            assert bool((module.bias == 0).all())
            fan_out, fan_in = module.weight.shape
            bound = (6 / (fan_in + fan_out)) ** 0.5
            assert float(module.weight.detach().abs().max()) <= bound + 1e-6
    # As the official code (deep copies of one layer): layers start with the same query table.
    torch.testing.assert_close(rec.decoder[0].learned_embed.weight, rec.decoder[1].learned_embed.weight)


def test_neighbor_size_follows_the_grid_and_zero_disables_the_mask():
    assert UniADReconstruction(in_channels=8, grid_size=16, **TINY).neighbor_size == (7, 7)
    assert UniADReconstruction(in_channels=8, grid_size=(4, 28), **TINY).neighbor_size == (3, 13)
    rec = UniADReconstruction(in_channels=8, grid_size=4, neighbor_size=0, **TINY)
    assert rec.attn_mask is None and rec.mask_attentions == (False, False, False)
    rec(torch.randn(1, 8, 4, 4))


def test_jitter_only_in_training_and_target_untouched():
    torch.manual_seed(0)
    rec = UniADReconstruction(in_channels=24, grid_size=(3, 4), dropout=0.0, **TINY)
    features = torch.randn(2, 24, 3, 4)
    clean = features.clone()
    rec.eval()
    torch.testing.assert_close(rec(features), rec(features))
    rec.train()
    assert not torch.allclose(rec(features), rec(features))  # dropout is 0: only the jitter differs
    torch.testing.assert_close(features, clean)
    rec.jitter_scale = 0.0
    torch.testing.assert_close(rec(features), rec(features))


def test_jitter_magnitude():
    torch.manual_seed(0)
    rec = UniADReconstruction(in_channels=272, grid_size=(2, 2), **TINY)
    tokens = torch.randn(4, 64, 272) * 3.0
    noise = rec.add_jitter(tokens) - tokens
    # Per token: N(0, 1) * ||f||_2 / C * scale.
    expected_std = tokens.norm(dim=-1) / 272 * 20.0
    ratio = noise.std(dim=-1) / expected_std
    assert abs(float(ratio.mean()) - 1.0) < 0.02


def test_jitter_probability_gates_whole_batches():
    torch.manual_seed(0)
    rec = UniADReconstruction(in_channels=8, grid_size=(2, 2), jitter_prob=0.5, **TINY)
    tokens = torch.randn(4, 2, 8)
    jittered = [not torch.equal(rec.add_jitter(tokens), tokens) for _ in range(200)]
    assert 60 < sum(jittered) < 140
