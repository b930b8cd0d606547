"""InterClassGAN channel awareness, findings and applications on tiny generators (CPU, seconds)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from gen3d.models.editing.interclass import (
    AWARENESS_FNS,
    DEFAULT_AWARENESS,
    ChannelAwareness,
    ablation_scores,
    aware_fraction,
    category_wise_evaluation,
    channel_awareness,
    channel_sweep,
    contribution_concentration,
    default_layers,
    edit_channel,
    hybridise,
    kmeans,
    overlap_matrix,
    pair_summary,
    segment,
    shared_channels,
)
from gen3d.models.editing.interclass.pictures import awareness_heatmap, labelled_grid, overlay_labels
from gen3d.models.gans.biggan import BigGANGenerator
from gen3d.models.gans.generator_output import GeneratorOutput


class ClassChannelGenerator(nn.Module):
    """Toy G: one layer ``'fc'`` of 4 channels at 2x2; channel 0 is ``c_0 * (1 + z_0^2)`` (class 0 only), the others
    depend on z alone; the image is a 1x1 conv of the features (linear, so the contribution of a class-free channel
    does not depend on the class either)."""

    layer_names = ("fc",)

    def __init__(self, c_dim: int = 3, z_dim: int = 4) -> None:
        super().__init__()
        self.c_dim, self.z_dim = c_dim, z_dim
        self.w = nn.Parameter(torch.randn(z_dim, 12, generator=torch.Generator().manual_seed(0)))
        self.out = nn.Conv2d(4, 3, 1)

    def layer_shapes(self) -> dict:
        return {"fc": (4, 2, 2)}

    def forward(self, z, c=None, return_features=False, layer_hook=None):
        n = len(z)
        own = (c[:, :1] * (1 + z[:, :1] ** 2)).expand(n, 4).reshape(n, 1, 2, 2)
        h = torch.cat([own, (z @ self.w).view(n, 3, 2, 2)], 1)
        h = layer_hook("fc", h) if layer_hook is not None else h
        return GeneratorOutput(image=self.out(h), features={"fc": h} if return_features else None)


def tiny_biggan(seed: int = 0) -> BigGANGenerator:
    torch.manual_seed(seed)
    return BigGANGenerator(resolution=8, z_dim=8, c_dim=3, shared_dim=4, ch=2).eval()


@pytest.mark.parametrize("fn", sorted(AWARENESS_FNS))
def test_class_driven_channel_is_aware_for_its_class_only(fn):
    aw = channel_awareness(ClassChannelGenerator(), num_samples=16, awareness_fn=fn, seed=0, batch=5)
    a = aw.awareness["fc"]
    assert a.shape == (3, 4)
    assert a[0, 0] == pytest.approx(3.0)  # only class 0 of 3 drives it: 3x the mean over classes
    np.testing.assert_allclose(a[1:, 0], 0, atol=1e-9)
    np.testing.assert_allclose(a[:, 1:], 1, atol=1e-6)  # class-free channels: specificity 1 for every class
    np.testing.assert_allclose(aware_fraction(aw)["all"], [0.25, 0, 0])
    assert aw.top_channels(0, "fc", 1).tolist() == [0]


@pytest.mark.parametrize("layer", ["block0", "block0.act1", "block0.act2"])
def test_default_is_grad_x_activation_and_matches_ablation_order(layer):
    assert DEFAULT_AWARENESS == "grad_x_activation"
    gen = tiny_biggan()
    aw = channel_awareness(gen, num_samples=64, layers=[layer], seed=1)
    assert aw.definition == "grad_x_activation" and aw.layers == (layer,)
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    c = torch.zeros(64, 3)
    c[:, 1] = 1
    ab = ablation_scores(gen, z, c, layer)
    grad = aw.raw[layer][1]
    assert np.corrcoef(ab, grad)[0, 1] > 0.8  # first-order estimate of the ablation change


def test_default_layers_are_the_ccbn_relu_activations():
    """The paper reads h = ReLU(CCBN(x)) (InterClassGAN Sec. 3); block outputs stay selectable with ``layers=``."""
    gen = tiny_biggan()
    assert default_layers(gen) == gen.awareness_layers == ("block0.act1", "block0.act2")
    aw = channel_awareness(gen, num_samples=4, seed=0)
    assert aw.layers == ("block0.act1", "block0.act2")
    z = _latents_like(4, 8, 0)
    c = torch.zeros(4, 3)
    c[:, 2] = 1
    with torch.no_grad():
        f = gen(z, c, return_features=True).features
        y0 = gen.block_conditions(z, c)[0]
        expect = torch.relu(gen.blocks[0].bn1(f["fc"], y0)).mean((0, 2, 3)).double().numpy()
    mean_act = channel_awareness(gen, num_samples=4, awareness_fn="mean_activation", seed=0)
    # the raw mean activation of class 2 at block0.act1 is that of ReLU(CCBN_1(fc, y)), not of the block output
    np.testing.assert_allclose(mean_act.raw["block0.act1"][2], expect, rtol=1e-5)
    blocks = channel_awareness(gen, num_samples=4, seed=0, layers=gen.block_layer_names)
    assert blocks.layers == ("fc", "block0")
    assert default_layers(ClassChannelGenerator()) == ("fc",)  # no awareness_layers: every feature layer


def _latents_like(num, z_dim, seed):
    return torch.randn(num, z_dim, generator=torch.Generator().manual_seed(seed))


def test_biggan_awareness_shapes_seed_and_specificity():
    gen = tiny_biggan()
    gen.train()
    aw = channel_awareness(gen, num_samples=6, seed=3, batch=4)
    assert gen.training  # the mode is restored
    assert aw.layers == gen.awareness_layers and aw.num_classes == 3
    for name in aw.layers:
        assert aw.awareness[name].shape == (3, gen.layer_shapes()[name][0])
        np.testing.assert_allclose(aw.awareness[name].mean(0), 1, atol=1e-9)
    again = channel_awareness(gen, num_samples=6, seed=3, batch=2)
    np.testing.assert_allclose(again.flat(raw=True), aw.flat(raw=True), rtol=1e-5)
    other = channel_awareness(gen, num_samples=6, seed=4)
    assert not np.allclose(other.flat(raw=True), aw.flat(raw=True))
    assert aw.total().shape == (3,)


def test_refusals():
    gen = tiny_biggan()
    with pytest.raises(ValueError, match="layers"):
        channel_awareness(gen, num_samples=2, layers=["block9"])
    with pytest.raises(ValueError, match="num_classes"):
        channel_awareness(gen, num_classes=4, num_samples=2)
    with pytest.raises(ValueError, match="awareness_fn"):
        channel_awareness(gen, num_samples=2, awareness_fn="nope")
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="generator"):
        channel_awareness(BigGANGenerator(resolution=8, z_dim=8, c_dim=0, ch=2), num_samples=2)
    aw = channel_awareness(gen, num_samples=2)
    z = torch.randn(2, 8)
    with pytest.raises(ValueError, match="class_idx"):
        aw.top_channels(3, "fc", 1)
    with pytest.raises(ValueError, match="class_idx"):
        edit_channel(gen, z, -1, "fc", 0)
    with pytest.raises(ValueError, match="layers"):
        edit_channel(gen, z, 0, "conv", 0)
    with pytest.raises(ValueError, match="channel"):
        edit_channel(gen, z, 0, "fc", 8)
    with pytest.raises(ValueError, match="class_b"):
        hybridise(gen, z, 0, 5, aw)
    with pytest.raises(ValueError, match="classes"):
        segment(gen, z, [0, 7], aw)


def test_save_load_roundtrip(tmp_path):
    aw = channel_awareness(tiny_biggan(), num_samples=4)
    aw.meta["classes"] = ["a", "b", "c"]
    npz, meta = aw.save(str(tmp_path / "aw"))
    back = ChannelAwareness.load(npz)
    assert back.layers == aw.layers and back.definition == aw.definition and back.meta["classes"] == ["a", "b", "c"]
    np.testing.assert_allclose(back.flat(), aw.flat())
    info = json.loads(open(meta).read())
    info["layers"].append("block7")
    open(meta, "w").write(json.dumps(info))
    with pytest.raises(ValueError, match="block7"):
        ChannelAwareness.load(npz)


def test_findings_overlap_and_pairs():
    a = {"l": np.array([[3.0, 1, 1, 0.5], [2.5, 1.2, 0.5, 0.5], [0.1, 0.5, 2, 1.5]])}
    aw = ChannelAwareness(a, a)
    jac = overlap_matrix(aw, "jaccard", top_frac=0.25)
    np.testing.assert_allclose(np.diag(jac), 1)
    assert jac[0, 1] == 1 and jac[0, 2] == 0  # top channel 0 shared by classes 0, 1; class 2's is channel 2
    cor = overlap_matrix(aw, "correlation")
    assert cor[0, 1] > cor[0, 2]
    s = pair_summary(cor, ["x", "y", "w"], [("x", "y")], ["w"])
    assert s["similar"] == pytest.approx(cor[0, 1]) and s["dissimilar"] == pytest.approx((cor[0, 2] + cor[1, 2]) / 2)
    with pytest.raises(ValueError, match="not in"):
        pair_summary(cor, ["x", "y", "w"], [("x", "q")], [])
    np.testing.assert_allclose(aware_fraction(aw, 1.5)["all"], [0.25, 0.25, 0.5])
    assert shared_channels(aw)["all"] == pytest.approx(0.25)  # channel 1: max A 1.2 < 1.5
    conc = ChannelAwareness(a, {"l": np.array([[8.0, 1, 1, 0], [1.0, 1, 1, 1], [0.0, 0, 0, 5]])})
    np.testing.assert_allclose(contribution_concentration(conc, 0.8), [0.25, 1.0, 0.25])


def test_edit_and_hybrid_semantics():
    gen = tiny_biggan()
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    c0 = torch.zeros(3, 3)
    c0[:, 0] = 1
    with torch.no_grad():
        base, img_b = gen(z, c0).image, gen(z, torch.eye(3)[[2, 2, 2]]).image
    torch.testing.assert_close(edit_channel(gen, z, 0, "block0", 1, scale=1.0), base)
    edited = edit_channel(gen, z, 0, "block0", 1, scale=0.0)
    assert not torch.allclose(edited, base)
    sweep = channel_sweep(gen, z, 0, "block0", 1, values=(0.0, 1.0))
    torch.testing.assert_close(sweep[0], edited)
    torch.testing.assert_close(sweep[1], base)
    aw = channel_awareness(gen, num_samples=4)
    torch.testing.assert_close(hybridise(gen, z, 0, 2, aw, top_frac=0.0), base)
    torch.testing.assert_close(hybridise(gen, z, 0, 2, aw, top_frac=1.0), img_b)  # every channel from b
    mid = hybridise(gen, z, 0, 2, aw, top_frac=0.25)
    assert not torch.allclose(mid, base) and not torch.allclose(mid, img_b)


def test_kmeans_and_segment():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(50, 3, generator=g), torch.randn(50, 3, generator=g) + 10])
    labels, centres = kmeans(x, 2, seed=0)
    assert len(set(labels[:50].tolist())) == 1 and len(set(labels[50:].tolist())) == 1
    assert labels[0] != labels[-1] and centres.shape == (2, 3)
    gen = tiny_biggan()
    aw = channel_awareness(gen, num_samples=4)
    z = torch.randn(4, 8)
    lab, img = segment(gen, z, [0, 0, 1, 2], aw, num_clusters=3)
    assert lab.shape == (4, 8, 8) and img.shape == (4, 3, 8, 8) and set(lab.unique().tolist()) <= {0, 1, 2}
    lab_u, _ = segment(gen, z, [0, 0, 1, 2], None, num_clusters=3)
    assert lab_u.shape == lab.shape
    assert overlay_labels(img, lab).shape == (4, 8, 8, 3)
    assert awareness_heatmap(aw, ["a", "b", "c"]).ndim == 3
    assert labelled_grid([img, img], ["x", "y"]).shape[0] == 2 * 16


def test_category_wise_evaluation_with_cheap_features():
    gen = tiny_biggan()
    aw = channel_awareness(gen, num_samples=4)
    g = torch.Generator().manual_seed(0)
    real = {y: torch.randint(0, 256, (6, 3, 8, 8), generator=g, dtype=torch.uint8) for y in range(3)}

    def feats(x):
        return torch.nn.functional.adaptive_avg_pool2d(x.float(), 2).flatten(1)

    ev = category_wise_evaluation(gen, real, aw, num_fake=5, extractor=feats)
    assert set(ev["per_class"]) == {0, 1, 2}
    row = ev["per_class"][1]
    assert row["fd"] > 0 and row["diversity"] > 0 and row["num_fake"] == 5
    assert row["total_awareness"] == pytest.approx(aw.total()[1])
    assert set(ev["corr_total_vs_fd"]) == {"pearson", "spearman"}
    with pytest.raises(ValueError, match="real_by_class"):
        category_wise_evaluation(gen, {3: real[0]}, aw, extractor=feats)
