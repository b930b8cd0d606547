"""The neighbour mask reaches every attention it should, and it stops a token from copying its own input.

Removing the mask from any attention (a broken routing, a refactor that passes ``None``) must fail here: the spy
test checks the mask each of the 3 kinds of attention receives, and the copy test checks the property the mask
exists for (UniAD Sec. 3.3: no identity shortcut). With no encoder layer and one decoder layer the property is
exact: the reconstruction of token ``i`` depends only on input tokens outside ``i``'s neighbourhood, so a defect
pasted inside that neighbourhood cannot be copied into it.
"""

import pytest
import torch

from gen3d.models.anomaly.attention import MaskedMultiheadAttention
from gen3d.models.anomaly.neighbor_mask import neighbor_mask
from gen3d.models.anomaly.uniad_reconstruction import UniADReconstruction

GRID, K, C = 6, 3, 8


def _model(**kw):
    torch.manual_seed(0)
    cfg = dict(in_channels=C, grid_size=GRID, hidden_dim=16, num_heads=2, num_encoder_layers=2,
               num_decoder_layers=2, dim_feedforward=32, dropout=0.0, neighbor_size=K)
    return UniADReconstruction(**{**cfg, **kw}).eval()


def _masks_seen(model):
    seen = {}

    def hook(name):
        def record(module, args, kwargs):
            seen.setdefault(name, []).append(kwargs.get("attn_mask"))
        return record

    for name, module in model.named_modules():
        if isinstance(module, MaskedMultiheadAttention):
            module.register_forward_pre_hook(hook(name), with_kwargs=True)
    with torch.no_grad():
        model(torch.randn(2, C, GRID, GRID))
    return seen


@pytest.mark.parametrize("mask_attentions", [(True, True, True), (True, False, True), (False, True, False)])
def test_each_attention_gets_the_neighbour_mask_it_is_configured_with(mask_attentions):
    model = _model(mask_attentions=mask_attentions)
    seen = _masks_seen(model)
    expected = neighbor_mask((GRID, GRID), (K, K))
    kinds = {"encoder": mask_attentions[0], "self_attn": mask_attentions[1], "multihead_attn": mask_attentions[2]}
    names = [n for n in seen]
    assert len(names) == 2 + 2 * 2  # 2 encoder layers, 2 decoder layers with 2 attentions each
    for name, masks in seen.items():
        masked = kinds["encoder"] if name.startswith("encoder") else kinds[name.rsplit(".", 1)[-1]]
        for mask in masks:
            if masked:
                assert mask is not None and torch.equal(mask, expected), name
            else:
                assert mask is None, name


def _own_neighbourhood_jacobian(model, i=14):
    """Largest |d out[:, token i] / d x[:, token j]| over j in i's neighbourhood."""
    r, q = divmod(i, GRID)
    x = torch.randn(1, C, GRID, GRID)
    patch = x[0, :, max(r - 1, 0):r + 2, max(q - 1, 0):q + 2].clone()

    def f(p):
        y = x.clone()
        y[0, :, max(r - 1, 0):r + 2, max(q - 1, 0):q + 2] = p
        return model(y)[0, :, r, q]

    return torch.autograd.functional.jacobian(f, patch).abs().max().item()


def test_a_defect_in_a_tokens_neighbourhood_cannot_be_copied_into_its_reconstruction():
    masked = _model(num_encoder_layers=0, num_decoder_layers=1)
    assert _own_neighbourhood_jacobian(masked) == 0.0
    # the same weights with either decoder attention unmasked copy the pasted input into the output
    for broken in ((True, False, True), (True, True, False)):
        leaky = _model(num_encoder_layers=0, num_decoder_layers=1, mask_attentions=broken)
        leaky.load_state_dict(masked.state_dict())
        assert _own_neighbourhood_jacobian(leaky) > 1e-3, broken
