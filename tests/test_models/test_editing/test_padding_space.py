"""PadInv's padding space (arXiv 2203.11105, Sec. 3.2) on the StyleGAN2 synthesis network and its helpers."""

import copy

import pytest
import torch
from torch.nn import functional as F

from gen3d.models.editing.padding_space import (
    CONST_KEY,
    center_crop,
    padding_layers,
    padding_map_size,
    padding_maps_from_list,
    padding_shapes,
    zero_padding_maps,
)
from gen3d.models.gans import StyleGAN2Generator
from gen3d.models.gans.depthgan.generator import DepthGANGenerator
from gen3d.models.gans.depthgan.generator_layers import ANGLE_LAYERS
from gen3d.models.gans.stylegan2.modulated_conv import DEMOD_EPS, ModulatedConv2d, ToRGB, modulated_conv2d
from gen3d.models.layers.equalized import bias_act
from gen3d.models.layers.fir import upsample2d

TINY = dict(z_dim=32, w_dim=32, channel_base=256, channel_max=32, mapping_layers=2)


def _perturb(module, seed=1):
    """Non-zero noise strengths and biases (zero at init), so that the tests see the layers after the conv."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
            elif name.endswith(".bias") and "affine" not in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def _gen(resolution=16, fused=False, seed=0):
    torch.manual_seed(seed)
    gen = StyleGAN2Generator(resolution, **TINY).eval()
    _perturb(gen)
    for m in gen.modules():
        if isinstance(m, ModulatedConv2d | ToRGB):
            m.fused = fused
    return gen


def _ws(gen, n=2, seed=3):
    return gen.mapping(torch.randn(n, gen.z_dim, generator=torch.Generator().manual_seed(seed)), None)


def reference_synthesis(syn, ws, conv_ws=None, layer_hook=None):
    """The plain network written with the primitives this change leaves alone (noise_mode 'const')."""
    ws = ws.float()
    cws = ws if conv_ws is None else conv_ws.float()
    x = img = None
    layer = 0
    for res in syn.block_resolutions:
        b = getattr(syn, f"b{res}")
        if not b.in_channels:
            x = b.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        for conv in ([b.conv0] if b.in_channels else []) + [b.conv1]:
            y = modulated_conv2d(x, conv.weight, conv.affine(cws[:, layer]), demodulate=True, up=conv.up,
                                 resample_filter=conv.resample_filter, fused=conv.fused)
            y = y + conv.noise_const * conv.noise_strength
            x = bias_act(y, conv.bias, "lrelu", clamp=conv.clamp)
            x = x if layer_hook is None else layer_hook(layer, x)
            layer += 1
        if img is not None:
            img = upsample2d(img, b.resample_filter)
        if b.num_torgb:
            y = b.torgb(x, ws[:, layer])
            img = y if img is None else img + y
    return img


def _features(gen, ws, **kwargs):
    feats = {}

    def keep(layer, x):
        feats[layer] = x
        return x

    img = gen.synthesis(ws, "const", layer_hook=keep, **kwargs)
    return img, feats


# ----------------------------------------------------------------------------- no maps: the plain network


@pytest.mark.parametrize("fused", [False, True])
def test_without_maps_the_synthesis_is_bit_identical_to_the_plain_network(fused):
    gen = _gen(fused=fused)
    ws = _ws(gen)
    ref = reference_synthesis(gen.synthesis, ws)
    assert torch.equal(gen.synthesis(ws, "const"), ref)
    assert torch.equal(gen.synthesis(ws, "const", padding_maps=None), ref)
    assert torch.equal(gen.synthesis(ws, "const", padding_maps={}), ref)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(5))
    assert torch.equal(gen(z, noise_mode="const").image, reference_synthesis(gen.synthesis, gen.mapping(z, None)))


def test_depthgan_generator_is_bit_identical_and_its_hooks_compose_with_maps():
    torch.manual_seed(0)
    gen = DepthGANGenerator(16, z_dim_depth=16, z_dim_rgb=24, w_dim=16, mapping_layers=2, channel_base=256,
                            channel_max=16).eval()
    _perturb(gen)
    z, pose = torch.randn(2, 40), torch.tensor([[0.2], [-0.1]])
    out = gen(z, None, pose, noise_mode="const")
    ws_d, ws_rgb = gen.map_latents(z)
    cam_p = gen.angle_mapping(pose).unsqueeze(1)
    conv_ws = torch.cat([ws_d[:, :ANGLE_LAYERS] * cam_p, ws_d[:, ANGLE_LAYERS:]], dim=1)
    feats = []
    depth = reference_synthesis(gen.depth.synthesis, ws_d, conv_ws, lambda layer, x: feats.append(x) or x)
    image = reference_synthesis(gen.rgb.synthesis, ws_rgb, None, lambda layer, x: gen.injection[layer](x, feats[layer]))
    assert torch.equal(out.depth, depth) and torch.equal(out.image, image)
    # conv_ws and layer_hook still work with (neutral) padding maps on a path's synthesis
    kept = []
    padded = gen.depth.synthesis(ws_d, "const", conv_ws=conv_ws, layer_hook=lambda layer, x: kept.append(x) or x,
                                 padding_maps=zero_padding_maps(gen.depth, 2))
    assert torch.equal(padded, depth) and all(torch.equal(a, b) for a, b in zip(kept, feats, strict=True))


# ----------------------------------------------------------------------------- helpers


def test_padding_layers_shapes_and_official_defaults():
    gen32, gen64, gen16 = StyleGAN2Generator(32, **TINY), StyleGAN2Generator(64, **TINY), _gen(16)
    # official pad_layer_num=4: the non-upsampling convs at 4, 8, 16, 32 (layers 0, 2, 4, 6), maps 34 px wide
    assert padding_layers(gen32) == [(0, 4, 32), (2, 8, 32), (4, 16, 16), (6, 32, 8)]
    assert padding_layers(gen64) == padding_layers(gen32)  # not the 64 px conv (layer 8)
    assert padding_layers(gen64.synthesis, num_layers=5)[-1] == (8, 64, 4)
    assert padding_map_size(gen64) == 34 == 2 ** (4 + 1) + 2
    assert padding_layers(gen16) == [(0, 4, 32), (2, 8, 32), (4, 16, 16)] and padding_map_size(gen16) == 18
    assert padding_layers(gen64, num_layers=0) == [] and padding_map_size(gen64, 0) == 4
    with pytest.raises(ValueError, match="num_layers"):
        padding_layers(gen16, -1)
    assert padding_shapes(gen32, 3) == {CONST_KEY: (3, 32, 34, 34), 0: (3, 32, 34, 34), 2: (3, 32, 34, 34),
                                        4: (3, 16, 34, 34), 6: (3, 8, 34, 34)}
    assert CONST_KEY not in padding_shapes(gen32, 3, encode_const=False)
    maps = zero_padding_maps(gen32, 3)
    assert {k: tuple(v.shape) for k, v in maps.items()} == padding_shapes(gen32, 3)
    const = maps[CONST_KEY]
    assert torch.equal(center_crop(const, 4), gen32.synthesis.b4.const.detach().expand(3, -1, -1, -1))
    assert const.abs().sum() == center_crop(const, 4).abs().sum()  # zero outside the centre
    assert all(not maps[k].any() for k in (0, 2, 4, 6)) and not const.requires_grad


def test_center_crop_and_the_official_list():
    x = torch.arange(6 * 6.0).reshape(1, 1, 6, 6)
    assert torch.equal(center_crop(x, 2), torch.tensor([[[[14.0, 15.0], [20.0, 21.0]]]]))
    assert torch.equal(center_crop(torch.arange(25.0).reshape(1, 1, 5, 5), 2), torch.tensor([[[[6.0, 7.0],
                                                                                               [11.0, 12.0]]]]))
    with pytest.raises(ValueError, match="centre-crop"):
        center_crop(x, 7)
    m = [torch.zeros(1), torch.ones(1), None, torch.full((1,), 3.0), None]
    out = padding_maps_from_list(m)
    assert list(out) == [CONST_KEY, 0, 2] and out[CONST_KEY] is m[0] and out[0] is m[1] and out[2] is m[3]


# ----------------------------------------------------------------------------- the padded conv


@pytest.mark.parametrize("fused", [False, True])
def test_zero_rings_and_the_generators_const_reproduce_the_output_exactly(fused):
    gen = _gen(fused=fused)
    ws = _ws(gen)
    plain = gen.synthesis(ws, "const")
    maps = zero_padding_maps(gen, 2)
    assert torch.equal(gen.synthesis(ws, "const", padding_maps=maps), plain)
    assert torch.equal(gen.synthesis(ws, "const", padding_maps={k: v for k, v in maps.items() if k != CONST_KEY}),
                       plain)
    assert torch.equal(gen.synthesis(ws, "const", padding_maps={CONST_KEY: maps[CONST_KEY]}), plain)
    z = torch.randn(2, 32)
    assert torch.equal(gen(z, noise_mode="const", padding_maps=maps).image, gen(z, noise_mode="const").image)


@pytest.mark.parametrize("fused", [False, True])
def test_padded_conv_is_the_official_conv_on_the_modulated_activations(fused):
    """Official default path: P = crop(map); P[1:-1, 1:-1] = x * s; y = conv2d(P, W) * d; noise, bias, lrelu."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(6, 5, 8, resolution=8, fused=fused)
    with torch.no_grad():
        conv.bias.normal_()
        conv.noise_strength.fill_(0.5)
    x, w, pmap = torch.randn(3, 6, 8, 8), torch.randn(3, 8), torch.randn(3, 6, 10, 10)
    s = conv.affine(w)
    d = ((conv.weight[None] * s[:, None, :, None, None]).square().sum([2, 3, 4]) + DEMOD_EPS).rsqrt()
    p = pmap.clone()
    p[:, :, 1:-1, 1:-1] = x * s[:, :, None, None]
    y = F.conv2d(p, conv.weight) * d[:, :, None, None] + conv.noise_const * conv.noise_strength
    expected = bias_act(y, conv.bias, "lrelu")
    got = conv(x, w, noise_mode="const", padding_map=pmap)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)  # the same sum, split in two convs
    assert not torch.allclose(got, conv(x, w, noise_mode="const"), atol=1e-3)
    with pytest.raises(ValueError, match=r"padding_map must be \(3, 6, 10, 10\)"):
        conv(x, w, padding_map=pmap[:, :, :9, :9])
    up = ModulatedConv2d(6, 5, 8, resolution=16, up=2)
    with pytest.raises(ValueError, match="up-samples"):
        up(x, w, padding_map=torch.zeros(3, 6, 18, 18))


@pytest.mark.parametrize("layer,res", [(0, 4), (2, 8)])
def test_a_ring_changes_the_border_of_its_layer_first_and_the_map_interior_is_ignored(layer, res):
    gen = _gen()
    ws = _ws(gen)
    plain, before = _features(gen, ws)
    channels = padding_shapes(gen, 2)[layer][1]
    pmap = torch.randn(2, channels, 18, 18, generator=torch.Generator().manual_seed(7))
    img, after = _features(gen, ws, padding_maps={layer: pmap})
    for earlier in range(layer):
        assert torch.equal(after[earlier], before[earlier])
    diff = (after[layer] - before[layer]).abs().amax(dim=1)  # (N, R, R)
    assert torch.equal(after[layer][..., 1:-1, 1:-1], before[layer][..., 1:-1, 1:-1])
    border = torch.ones(res, res, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    assert (diff[:, border] > 0).all()
    assert not torch.equal(img, plain)
    # only the ring of the centre crop (R + 2) matters: change everything else
    other = pmap.clone()
    crop = center_crop(other, res + 2)
    crop[..., 1:-1, 1:-1] = 100.0
    ring = torch.ones(18, 18, dtype=torch.bool)
    lo = (18 - res - 2) // 2
    ring[lo:lo + res + 2, lo:lo + res + 2] = False
    other[..., ring] = -100.0
    assert torch.equal(gen.synthesis(ws, "const", padding_maps={layer: other}), img)


def test_gradients_reach_the_ring_and_the_const_centre_only():
    gen = _gen().requires_grad_(False)
    ws = _ws(gen)
    rng = torch.Generator().manual_seed(11)
    maps = {k: (v + 0.1 * torch.randn(v.shape, generator=rng)).requires_grad_(True)
            for k, v in zero_padding_maps(gen, 2).items()}
    gen.synthesis(ws, "const", padding_maps=maps).square().sum().backward()
    size = padding_map_size(gen)
    for layer, res, _ in padding_layers(gen):
        grad = maps[layer].grad
        lo = (size - res - 2) // 2
        on_ring = torch.zeros(size, size, dtype=torch.bool)
        on_ring[lo:lo + res + 2, lo:lo + res + 2] = True
        on_ring[lo + 1:lo + res + 1, lo + 1:lo + res + 1] = False
        assert grad[..., on_ring].abs().sum() > 0 and not grad[..., ~on_ring].any(), layer
    g = maps[CONST_KEY].grad
    centre = torch.zeros(size, size, dtype=torch.bool)
    centre[(size - 4) // 2:(size + 4) // 2, (size - 4) // 2:(size + 4) // 2] = True
    assert center_crop(g, 4).abs().amin() > 0 and not g[..., ~centre].any()


def test_the_const_map_replaces_the_constant_per_sample():
    gen = _gen()
    ws = _ws(gen)
    m = torch.randn(1, 32, 18, 18).repeat(2, 1, 1, 1)
    out = gen.synthesis(ws, "const", padding_maps={CONST_KEY: m})
    other = copy.deepcopy(gen)
    with torch.no_grad():
        other.synthesis.b4.const.copy_(center_crop(m, 4)[0])
    assert torch.equal(out, other.synthesis(ws, "const")) and not torch.equal(out, gen.synthesis(ws, "const"))
    mixed = m.clone()
    mixed[1] = torch.randn(32, 18, 18)
    both = gen.synthesis(ws, "const", padding_maps={CONST_KEY: mixed})
    assert torch.allclose(both[0], out[0], atol=1e-6) and not torch.allclose(both[1], out[1], atol=1e-3)


def test_bad_keys_and_shapes_are_refused_naming_the_layer():
    gen = _gen()
    ws = _ws(gen)
    maps = zero_padding_maps(gen, 2)

    def run(key, value):
        return gen.synthesis(ws, "const", padding_maps={**maps, key: value})

    with pytest.raises(ValueError, match=r"layer 2 \(b8.conv1, 8x8\) must be \(2, 32, S, S\) with S >= 10"):
        run(2, torch.zeros(2, 16, 18, 18))
    with pytest.raises(ValueError, match=r"layer 4 \(b16.conv1, 16x16\) must be \(2, 16, S, S\) with S >= 18, "
                                         r"got \(2, 16, 17, 17\)"):
        run(4, torch.zeros(2, 16, 17, 17))
    with pytest.raises(ValueError, match=r"layer 0 \(b4.conv1, 4x4\) must be \(2, 32"):
        run(0, torch.zeros(3, 32, 18, 18))
    with pytest.raises(ValueError, match="layer 0 .* got int"):
        run(0, 0)
    with pytest.raises(ValueError, match=r"layer 0 .* got \(2, 32, 18\)"):
        run(0, torch.zeros(2, 32, 18))
    with pytest.raises(ValueError, match=r"constant input \(b4.const, 4x4\) must be \(2, 32, S, S\) with S >= 4"):
        run(CONST_KEY, torch.zeros(2, 32, 3, 3))
    with pytest.raises(ValueError, match=r"layer 1 \(b8.conv0\) is an up-sampling conv.*layers \[0, 2, 4\]"):
        run(1, torch.zeros(2, 32, 18, 18))
    with pytest.raises(ValueError, match=r"layer 3 \(b16.conv0\) is an up-sampling"):
        run(3, torch.zeros(2, 32, 18, 18))
    for key in (5, 99, -1, "layer0", True, 2.0):
        with pytest.raises(ValueError, match="unknown padding map key"):
            gen.synthesis(ws, "const", padding_maps={key: torch.zeros(2, 32, 18, 18)})
    with pytest.raises(TypeError, match="padding_maps_from_list"):
        gen.synthesis(ws, "const", padding_maps=[maps[CONST_KEY], maps[0]])
