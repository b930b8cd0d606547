import math

import numpy as np
import pytest
import torch

from gen3d.models.editing.sefa import sefa_directions, sefa_from_matrix, style_modules, style_weights
from gen3d.models.gans.stylegan2.modulated_conv import ModulatedConv2d, ToRGB

from . import tiny_generator


def test_style_module_l_reads_ws_l():
    gen = tiny_generator()
    modules = style_modules(gen)
    assert len(modules) == gen.num_ws == 6
    assert all(isinstance(m, ModulatedConv2d) for m in modules[:-1]) and isinstance(modules[-1], ToRGB)
    assert modules[-1] is gen.synthesis.b16.torgb
    seen = {}

    def record(index):
        def hook(module, args, output):
            seen[index] = args[0].clone()
        return hook

    hooks = [m.affine.register_forward_hook(record(i)) for i, m in enumerate(modules)]
    ws = torch.arange(gen.num_ws, dtype=torch.float32).reshape(1, -1, 1).expand(1, gen.num_ws, gen.w_dim)
    with torch.no_grad():
        gen.synthesis(ws, noise_mode="const")
    for h in hooks:
        h.remove()
    assert {i: float(v[0, 0]) for i, v in seen.items()} == {i: float(i) for i in range(gen.num_ws)}


def test_style_weights_are_the_effective_affine():
    gen = tiny_generator()
    modules = style_modules(gen)
    weights = style_weights(gen)
    w = torch.randn(3, gen.w_dim)
    for module, weight in zip(modules, weights):
        gain = module.weight_gain if isinstance(module, ToRGB) else 1.0
        with torch.no_grad():
            styles = (module.affine(w) * gain).double()
            bias = (module.affine.bias * module.affine.bias_gain * gain).double()
        assert weight.shape == (module.affine.out_features, gen.w_dim)
        assert torch.allclose(w.double() @ weight.T + bias, styles, atol=1e-5)
    # equalised learning rate: the stored weight is 1/sqrt(w_dim) away from the effective one
    assert torch.allclose(weights[0], modules[0].affine.weight.double() / math.sqrt(gen.w_dim))
    assert torch.allclose(style_weights(gen, [5])[0], weights[5])


def hand_matrix(gen, layers, normalize):
    rows = []
    for layer in layers:
        module = style_modules(gen)[layer]
        a = module.affine.weight.detach().double().numpy() / math.sqrt(gen.w_dim)
        if layer == gen.num_ws - 1:
            a = a / math.sqrt(module.weight.shape[1])
        rows.append(a)
    a = np.concatenate(rows, axis=0)
    if normalize:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return a.T @ a


@pytest.mark.parametrize("layers,normalize", [(None, True), ([1, 2, 5], False), ([0, 3], True)])
def test_sefa_directions_are_eigenvectors_of_hand_built_ata(layers, normalize):
    gen = tiny_generator()
    values, vectors = sefa_directions(gen, layers, normalize_rows=normalize)
    ata = hand_matrix(gen, range(gen.num_ws) if layers is None else layers, normalize)
    assert values.shape == (gen.w_dim,) and vectors.shape == (gen.w_dim, gen.w_dim)
    assert np.all(np.diff(values) <= 0)
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(gen.w_dim), atol=1e-10)
    np.testing.assert_allclose(ata @ vectors.T, vectors.T * values, atol=1e-8 * np.abs(ata).max())
    np.testing.assert_allclose(values, np.linalg.eigvalsh(ata)[::-1], rtol=1e-9)
    # the top direction maximises |A n|^2 over unit n
    trials = np.random.RandomState(0).randn(2000, gen.w_dim)
    trials /= np.linalg.norm(trials, axis=1, keepdims=True)
    assert np.einsum("nd,de,ne->n", trials, ata, trials).max() <= values[0] + 1e-9


def test_row_normalisation_cancels_layer_gains_only_when_on():
    a = np.random.RandomState(1).randn(10, 4)
    scaled = a * np.repeat([1.0, 30.0], 5)[:, None]
    np.testing.assert_allclose(sefa_from_matrix(scaled)[1], sefa_from_matrix(a)[1], atol=1e-10)
    assert not np.allclose(np.abs(sefa_from_matrix(scaled, False)[1]), np.abs(sefa_from_matrix(a, False)[1]))


def test_bad_layers_are_refused():
    gen = tiny_generator()
    for layers in ([6], [-1], [], [1, 1], [1.5]):
        with pytest.raises(ValueError, match="layers"):
            sefa_directions(gen, layers)
