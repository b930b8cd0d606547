import math

import torch
from torch import nn

from gen3d.models.gans.pigan import FiLMLayer, FiLMSiren, PiGANMappingNetwork, first_layer_film_init, frequency_init


def test_film_layer_is_sin_of_gamma_times_linear_plus_beta():
    torch.manual_seed(0)
    layer = FiLMLayer(3, 5)
    x, gamma, beta = torch.randn(2, 4, 3), torch.randn(2, 5), torch.randn(2, 5)
    expected = torch.sin(gamma[:, None] * (x @ layer.layer.weight.T + layer.layer.bias) + beta[:, None])
    assert torch.allclose(layer(x, gamma, beta), expected, atol=1e-6)


def test_inits_follow_pigan():
    torch.manual_seed(0)
    big = nn.Linear(400, 300)
    big.apply(frequency_init(25))
    bound = math.sqrt(6 / 400) / 25
    assert big.weight.abs().max() <= bound and big.weight.abs().max() > 0.98 * bound
    assert abs(big.weight.std() - bound / math.sqrt(3)) < 0.02 * bound  # uniform on [-b, b]
    first = nn.Linear(3, 64)
    first.apply(first_layer_film_init)
    assert first.weight.abs().max() <= 1 / 3
    field = FiLMSiren(hidden_dim=32, num_layers=3)
    assert field.network[0].layer.weight.abs().max() <= 1 / 3
    assert field.network[0].layer.weight.abs().max() > math.sqrt(6 / 3) / 25  # not the frequency init
    for lin in (field.network[1].layer, field.final_layer, field.color_layer_sine.layer, field.color_layer_linear):
        assert lin.weight.abs().max() <= math.sqrt(6 / lin.in_features) / 25 + 1e-7


def test_mapping_network_layout_and_last_layer_scale():
    torch.manual_seed(0)
    m = PiGANMappingNetwork(z_dim=256, hidden_dim=256, out_dim=9 * 256)
    linears = [x for x in m.network if isinstance(x, nn.Linear)]
    acts = [x for x in m.network if isinstance(x, nn.LeakyReLU)]
    assert [(x.in_features, x.out_features) for x in linears] == [(256, 256)] * 3 + [(256, 9 * 256 * 2)]
    assert len(acts) == 3 and all(a.negative_slope == 0.2 for a in acts)
    gain = math.sqrt(2 / (1 + 0.2 ** 2))
    assert abs(linears[0].weight.std() - gain / 16) < 0.05 * gain / 16  # kaiming, fan_in 256
    assert abs(linears[-1].weight.std() - 0.25 * gain / 16) < 0.05 * 0.25 * gain / 16
    f, p = m(torch.randn(3, 256))
    assert f.shape == p.shape == (3, 9 * 256)


def test_field_uses_15f_plus_30_the_box_warp_and_the_colour_branch():
    torch.manual_seed(0)
    field = FiLMSiren(hidden_dim=8, num_layers=2)
    pts, dirs = torch.randn(2, 3, 4, 3) * 0.1, torch.randn(2, 3, 4, 3)
    freqs, phases = torch.randn(2, 3 * 8), torch.randn(2, 3 * 8)
    rgb, sigma = field(pts, dirs, freqs, phases)
    assert rgb.shape == (2, 3, 4, 3) and sigma.shape == (2, 3, 4, 1)
    assert rgb.min() >= 0 and rgb.max() <= 1
    # by hand: coordinates x 2 / 0.24, gamma = 15 f + 30, colour FiLM on [dir, x] with the last slice
    g, x = freqs * 15 + 30, pts.reshape(2, 12, 3) * (2 / 0.24)
    for i in range(2):
        lin = field.network[i].layer
        x = torch.sin(g[:, None, i * 8:(i + 1) * 8] * lin(x) + phases[:, None, i * 8:(i + 1) * 8])
    c = torch.sin(g[:, None, 16:] * field.color_layer_sine.layer(torch.cat([dirs.reshape(2, 12, 3), x], -1))
                  + phases[:, None, 16:])
    assert torch.allclose(sigma.reshape(2, 12, 1), field.final_layer(x), atol=1e-5)
    assert torch.allclose(rgb.reshape(2, 12, 3), torch.sigmoid(field.color_layer_linear(c)), atol=1e-5)
    assert field.film_dim == 24
