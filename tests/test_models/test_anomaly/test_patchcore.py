"""PatchCore: coreset selection, kNN scoring against brute force, per-class banks, checkpoints, refusals."""

import io

import cv2
import numpy as np
import pytest
import torch

from gen3d.models.anomaly.patchcore import (
    PatchCore,
    coreset_indices,
    coreset_size,
    k_center_greedy,
    nearest_neighbors,
    reweighted_image_score,
)
from gen3d.models.anomaly.patchcore import scoring as scoring_module
from gen3d.models.anomaly.patchcore.scoring import PatchCoreAnomalyMap, gaussian_kernel1d
from gen3d.structures import AnomalyDataSample
from tests.helpers.anomaly_data import normal_image

SIZE = 64


def tiny_patchcore(**kwargs) -> PatchCore:
    """Lite0 with random weights on 64x64 inputs (an 8x8 patch grid)."""
    cfg = dict(backbone=dict(type="TimmFeatureExtractor", model_name="tf_efficientnet_lite0", out_blocks=(4, 10),
                             pretrained=False), input_size=(SIZE, SIZE))
    cfg.update(kwargs)
    return PatchCore(**cfg)


def samples(cls_names: list[str]) -> list[AnomalyDataSample]:
    return [AnomalyDataSample(metainfo=dict(img_path=f"/d/{c}/{i:03d}.png", cls_name=c))
            for i, c in enumerate(cls_names)]


def to_input(img: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> preprocessed ``(3, SIZE, SIZE)`` (Lite0: (x - 127.5) / 127.5)."""
    img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    return (torch.from_numpy(img).permute(2, 0, 1).float() - 127.5) / 127.5


def fitted(model: PatchCore, classes: dict[str, int], seed: int = 0) -> PatchCore:
    """Collect ``n`` normal 'bottle'-style images per class and build the banks."""
    for k, (cls_name, n) in enumerate(classes.items()):
        rng = np.random.default_rng([seed, k])
        batch = torch.stack([to_input(normal_image("bottle", rng)) for _ in range(n)])
        model.collect(model.extract_embedding(batch), samples([cls_name] * n))
    model.fit_memory_banks()
    return model


# ---------------------------------------------------------------------------------------------------- coreset
def brute_force_k_center(x: np.ndarray, k: int, start: int) -> list[int]:
    chosen = [start]
    while len(chosen) < k:
        d = np.min(((x[:, None, :] - x[None, chosen, :]) ** 2).sum(-1), axis=1)
        d[chosen] = -1
        chosen.append(int(np.argmax(d)))
    return chosen


def test_k_center_picks_the_farthest_point_each_step():
    x = torch.randn(80, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64).float()
    got = k_center_greedy(x, 12, start=7).tolist()
    assert got == brute_force_k_center(x.double().numpy(), 12, 7)
    assert got[0] == 7


def test_k_center_on_clusters_covers_every_cluster_first():
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
    x = (centers[:, None, :] + 0.1 * torch.randn(4, 25, 2, generator=g)).reshape(-1, 2)
    picked = k_center_greedy(x, 4, start=0)
    assert sorted((picked // 25).tolist()) == [0, 1, 2, 3]


def test_k_center_never_repeats_a_point_among_duplicates():
    x = torch.zeros(30, 4)
    x[:3] = torch.eye(4)[:3]
    picked = k_center_greedy(x, 30, start=5)
    assert sorted(picked.tolist()) == list(range(30))


def test_coreset_ratio_is_honoured():
    x = torch.randn(500, 200)
    for ratio, expected in ((0.1, 50), (0.013, 6), (0.001, 1), (1.0, 500), (2.0, 500)):
        idx = coreset_indices(x, ratio)
        assert idx.numel() == expected == coreset_size(500, ratio)
        assert idx.unique().numel() == expected
    assert coreset_indices(x, 1.0).tolist() == list(range(500))
    with pytest.raises(ValueError, match="ratio"):
        coreset_indices(x, 0.0)


def test_coreset_is_deterministic_with_a_seed():
    x = torch.randn(400, 200, generator=torch.Generator().manual_seed(3))
    a, b = coreset_indices(x, 0.05, seed=11), coreset_indices(x, 0.05, seed=11)
    assert torch.equal(a, b)
    assert not torch.equal(a, coreset_indices(x, 0.05, seed=12))


def test_coreset_uses_the_projection_only_above_its_dimension():
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(0)
    start = int(torch.randint(300, (1,), generator=g))
    # D <= projection_dim: plain k-center on the features themselves
    assert coreset_indices(x, 0.1, projection_dim=128, seed=0).tolist() == k_center_greedy(x, 30, start).tolist()


# ---------------------------------------------------------------------------------------------------- scoring
def test_knn_patch_scores_equal_brute_force(monkeypatch):
    monkeypatch.setattr(scoring_module, "_CHUNK_ELEMENTS", 64)  # force several chunks
    g = torch.Generator().manual_seed(5)
    queries, bank = torch.randn(37, 10, generator=g), torch.randn(23, 10, generator=g)
    dist, idx = nearest_neighbors(queries, bank, k=3)
    full = np.sqrt(((queries.numpy()[:, None] - bank.numpy()[None]) ** 2).sum(-1))
    np.testing.assert_allclose(dist.numpy(), np.sort(full, 1)[:, :3], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(idx.numpy(), np.argsort(full, 1)[:, :3])


def test_image_score_is_eq7_against_brute_force():
    g = torch.Generator().manual_seed(6)
    emb, bank, b = torch.randn(2, 16, 8, generator=g), torch.randn(40, 8, generator=g), 5
    dist, idx = nearest_neighbors(emb.reshape(-1, 8), bank, k=1)
    got = reweighted_image_score(dist.reshape(2, 16), idx.reshape(2, 16), emb, bank, b)
    e, m = emb.double().numpy(), bank.double().numpy()
    for i in range(2):
        d = np.sqrt(((e[i][:, None] - m[None]) ** 2).sum(-1))  # (16, 40)
        patch = d.min(1)
        j = int(patch.argmax())  # m_test*
        s_star, m_star = patch[j], int(d[j].argmin())
        support = np.argsort(np.sqrt(((m[m_star][None] - m) ** 2).sum(-1)))[:b]  # N_b(m*), m* first
        assert support[0] == m_star
        dd = np.sqrt(((e[i][j][None] - m[support]) ** 2).sum(-1))
        expected = (1 - np.exp(dd[0]) / np.exp(dd).sum()) * s_star
        assert got[i].item() == pytest.approx(expected, rel=1e-4)
    assert torch.equal(reweighted_image_score(dist.reshape(2, 16), idx.reshape(2, 16), emb, bank, 1),
                       dist.reshape(2, 16).max(1).values)


def test_anomaly_map_upsamples_and_blurs_with_sigma_4():
    assert gaussian_kernel1d(4.0).numel() == 33 and gaussian_kernel1d(4.0).sum().item() == pytest.approx(1.0)
    head = PatchCoreAnomalyMap((64, 64), sigma=4.0)
    assert torch.allclose(head(torch.full((1, 1, 8, 8), 2.5)), torch.full((1, 1, 64, 64), 2.5))
    spike = torch.zeros(1, 1, 8, 8)
    spike[0, 0, 3, 4] = 1.0
    out = head(spike)
    assert out.shape == (1, 1, 64, 64)
    assert 0 < out.max() < 1.0  # smoothed
    y, x = divmod(int(out.argmax()), 64)
    assert 24 <= y < 32 and 32 <= x < 40  # the spike's 8x8 cell
    assert torch.equal(PatchCoreAnomalyMap((64, 64), sigma=0)(spike), torch.nn.functional.interpolate(spike, 64))


# ---------------------------------------------------------------------------------------------------- model
@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    with torch.no_grad():
        return fitted(tiny_patchcore(coreset_ratio=0.25), {"bottle": 6, "carpet": 4}).eval()


def test_embedding_is_pooled_layers_concatenated(model):
    assert model.backbone.out_strides == [8, 16] and model.backbone.out_channels == [40, 112]
    emb = model.extract_embedding(torch.zeros(2, 3, SIZE, SIZE))
    assert emb.shape == (2, 152, 8, 8)


def test_one_bank_per_class_with_the_coreset_ratio(model):
    assert model.memory_banks.classes() == ["bottle", "carpet"]
    assert model.memory_banks.get("bottle").shape == (6 * 64 // 4, 152)
    assert model.memory_banks.get("carpet").shape == (4 * 64 // 4, 152)


def test_pasted_defect_scores_higher_than_the_good_image(model):
    rng = np.random.default_rng([99, 0])
    good = normal_image("bottle", rng)
    bad = good.copy()
    bad[16:30, 20:34] = 250  # a bright patch on the 48x48 image
    with torch.no_grad():
        out = model.predict(torch.stack([to_input(good), to_input(bad)]), samples(["bottle", "bottle"]))
    assert out[1].pred_score > 1.5 * out[0].pred_score
    amap = out[1].anomaly_map
    box = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    box[int(16 * SIZE / 48):int(30 * SIZE / 48), int(20 * SIZE / 48):int(34 * SIZE / 48)] = True
    assert amap[box].mean() > 1.3 * amap[~box].mean()  # the defect region stands out in the map
    assert amap[box].mean() > 5 * out[0].anomaly_map[box].mean()
    assert out[0].anomaly_map.shape == (SIZE, SIZE) and out[0].pred_score.ndim == 0


def test_scoring_uses_the_sample_class_bank(model):
    x = to_input(normal_image("bottle", np.random.default_rng([7, 1])))[None]
    with torch.no_grad():
        a = model.predict(x.clone(), samples(["bottle"]))[0].pred_score
        b = model.predict(x.clone(), samples(["carpet"]))[0].pred_score
        bank = model.memory_banks.get("carpet")
        emb = model.extract_embedding(x).permute(0, 2, 3, 1).reshape(1, -1, 152)
        d, i = nearest_neighbors(emb[0], bank)
        expected = reweighted_image_score(d.T, i.T, emb, bank, model.num_neighbors)
    assert a != b and b.item() == pytest.approx(expected.item(), rel=1e-5)


def test_unknown_class_is_refused_naming_it(model):
    with pytest.raises(ValueError, match=r"unknown class 'cable'.*\['bottle', 'carpet'\]"):
        model.predict(torch.zeros(1, 3, SIZE, SIZE), samples(["cable"]))
    with pytest.raises(ValueError, match="without cls_name"):
        model(torch.zeros(1, 3, SIZE, SIZE), mode="tensor")
    with pytest.raises(RuntimeError, match="no memory bank"):
        tiny_patchcore().predict(torch.zeros(1, 3, SIZE, SIZE), samples(["bottle"]))
    with pytest.raises(ValueError, match="no loss"):
        model(torch.zeros(1, 3, SIZE, SIZE), mode="loss")


def test_thresholds_give_decisions(model):
    model.thresholds = {"bottle": {"image": -1.0, "pixel": 1e9}}
    try:
        out = model.predict(torch.zeros(2, 3, SIZE, SIZE), samples(["bottle", "carpet"]))
    finally:
        model.thresholds = {}
    assert out[0].pred_label.item() == 1 and int(out[0].pred_mask.sum()) == 0
    assert "pred_label" not in out[1]


def test_checkpoint_reloads_banks_exactly_with_weights_only(model):
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert {k for k in state if k.startswith("memory_banks.")} == {
        "memory_banks.bank_" + b"bottle".hex(), "memory_banks.bank_" + b"carpet".hex()}
    fresh = tiny_patchcore(coreset_ratio=0.25)
    fresh.load_state_dict(state, strict=True)
    fresh.eval()
    assert fresh.memory_banks.classes() == ["bottle", "carpet"]
    for cls_name in ("bottle", "carpet"):
        assert torch.equal(fresh.memory_banks.get(cls_name), model.memory_banks.get(cls_name))
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(fresh(x, samples(["carpet"]))[1], model(x, samples(["carpet"]))[1])


def test_class_names_with_dots_and_unicode_survive_the_state_dict():
    banks = tiny_patchcore().memory_banks
    banks.set("pcb.v2 ü", torch.ones(3, 2))
    other = tiny_patchcore().memory_banks
    other.load_state_dict(banks.state_dict())
    assert other.classes() == ["pcb.v2 ü"] and torch.equal(other.get("pcb.v2 ü"), torch.ones(3, 2))


def test_banks_do_not_depend_on_the_loader_order():
    torch.manual_seed(0)
    a = tiny_patchcore(coreset_ratio=0.2)
    b = tiny_patchcore(coreset_ratio=0.2)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(8))
    names = [AnomalyDataSample(metainfo=dict(img_path=f"/d/{i}.png", cls_name="bottle")) for i in range(4)]
    with torch.no_grad():
        a.collect(a.extract_embedding(x), names)
        b.collect(b.extract_embedding(x[[2, 0, 3, 1]]), [names[i] for i in (2, 0, 3, 1)])
    a.fit_memory_banks()
    b.fit_memory_banks()
    assert torch.equal(a.memory_banks.get("bottle"), b.memory_banks.get("bottle"))
