"""The folded inference copy of UniAD's transformer: same outputs as the training module, eager and in ORT."""

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from gen3d.deploy.anomaly_wrapper import export_copy
from gen3d.deploy.bundle_common import custom_ops
from gen3d.deploy.onnx_export import export_onnx, run_onnx
from gen3d.deploy.quantize import affine_conv_nodes
from gen3d.deploy.uniad_fused import FusedUniADReconstruction, fuse_uniad
from gen3d.models.anomaly.uniad_reconstruction import UniADReconstruction


def _trained_like(seed: int = 0, neighbor_size: int | None = 3,
                  mask_attentions: tuple[bool, bool, bool] = (True, True, True)) -> UniADReconstruction:
    """A small reconstruction module with every parameter (biases, queries, LayerNorms) moved off its init."""
    torch.manual_seed(seed)
    model = UniADReconstruction(in_channels=24, grid_size=(5, 6), hidden_dim=32, num_heads=4, num_encoder_layers=2,
                                num_decoder_layers=3, dim_feedforward=48, neighbor_size=neighbor_size,
                                mask_attentions=mask_attentions)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return export_copy(model)


@pytest.mark.parametrize("neighbor_size", [3, 0])
def test_fused_equals_training_module(neighbor_size):
    model = _trained_like(neighbor_size=neighbor_size)
    fused = FusedUniADReconstruction(model).eval()
    x = 2 * torch.randn(3, 24, 5, 6)
    with torch.no_grad():
        ref, out = model(x), fused(x)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() <= 1e-5 * ref.abs().max().item()
    # One q/k/v projection per encoder layer; one MatMul for every projection of the encoder memory (k, v of the 3
    # decoder attn-1 and of the first decoder's attn-2).
    assert len(fused.enc_qkv_weight) == 2 and fused.mem_weight.shape == (32, 2 * 32 * 3 + 2 * 32)


@pytest.mark.parametrize("mask_attentions", [(False, True, False), (True, False, True)])
def test_fused_equals_training_module_with_partial_masks(mask_attentions):
    """Each attention keeps (or lacks) the neighbour mask exactly as the source module has it."""
    model = _trained_like(seed=2, mask_attentions=mask_attentions)
    fused = FusedUniADReconstruction(model).eval()
    x = 2 * torch.randn(2, 24, 5, 6)
    with torch.no_grad():
        ref, out = model(x), fused(x)
    assert (out - ref).abs().max().item() <= 1e-5 * ref.abs().max().item()
    # Only the attentions the source masks get a mask (encoder, decoder attn-1, decoder attn-2).
    assert [m is not None for m in (fused.enc_mask, fused.dec_mask1, fused.dec_mask2)] == list(mask_attentions)


def test_paper_mask_leaves_most_scores_visible():
    """Why the export keeps the attention dense: the 7x7 window on 14x14 is what is hidden, 80.7 % stays visible.

    A windowed formulation (each query attending to its own window only) would be another model; if the mask's
    convention ever flips to that, this test fails and the dense-on-purpose note in uniad_fused.py must be revised.
    """
    model = UniADReconstruction(in_channels=8, grid_size=(14, 14), hidden_dim=16, num_heads=2, num_encoder_layers=1,
                                num_decoder_layers=1, dim_feedforward=16)
    visible = torch.isfinite(model.attn_mask)
    assert visible.float().mean().item() == pytest.approx(0.807, abs=1e-3)
    assert (visible.sum(1).min().item(), visible.sum(1).max().item()) == (147, 180)
    assert not visible[7 * 14 + 7, 7 * 14 + 7]  # a token never sees itself


def test_fused_differs_when_the_source_changes():
    """The folded constants really come from the source weights (a check that could not pass by accident)."""
    model = _trained_like()
    fused = FusedUniADReconstruction(model).eval()
    with torch.no_grad():
        model.decoder[1].learned_embed.weight.add_(1.0)
        x = torch.randn(2, 24, 5, 6)
        assert (model(x) - fused(x)).abs().max().item() > 1e-3


class _Wrap(nn.Module):
    def __init__(self, rec: nn.Module) -> None:
        super().__init__()
        self.reconstruction = rec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruction(x)


@pytest.mark.parametrize("ort_attention", [True, False])
def test_onnx_export_matches_training_module(tmp_path, ort_attention):
    model = _trained_like(seed=1)
    wrapped = fuse_uniad(_Wrap(model), ort_attention=ort_attention)
    assert isinstance(wrapped.reconstruction, FusedUniADReconstruction)
    path = str(tmp_path / "rec.onnx")
    export_onnx(wrapped, (torch.randn(1, 24, 5, 6),), path, ["x"], ["y"], {"x": {0: "b"}, "y": {0: "b"}})
    x = 2 * torch.randn(4, 24, 5, 6)  # another batch size than the traced one
    with torch.no_grad():
        ref = model(x).numpy()
    out = run_onnx(path, {"x": x.numpy()})["y"]
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    ops = custom_ops(path)
    assert ops == (["com.microsoft.MultiHeadAttention"] if ort_attention else [])
    n_mha = sum(n.op_type == "MultiHeadAttention" for n in onnx.load(path).graph.node)
    assert n_mha == (2 + 2 * 3 if ort_attention else 0)


def test_affine_conv_nodes_finds_only_the_normalisation(tmp_path):
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.Conv2d(3, 3, 1, groups=3)
            self.dw = nn.Conv2d(3, 3, 3, groups=3, padding=1)
            self.pw = nn.Conv2d(3, 8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pw(self.dw(self.norm(x)))

    path = str(tmp_path / "net.onnx")
    export_onnx(Net().eval(), (torch.randn(1, 3, 8, 8),), path, ["x"], ["y"])
    names = affine_conv_nodes(path)
    assert len(names) == 1 and "norm" in names[0]
