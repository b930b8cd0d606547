import pytest
import torch

from gen3d.models.anomaly import DiskFeatureCache, MemoryFeatureCache, build_feature_cache


def test_memory_cache_roundtrip_copies_to_cpu():
    cache = MemoryFeatureCache()
    batch = torch.randn(4, 3, 2, 2)
    cache.put("a", batch[1])
    got = cache.get("a")
    torch.testing.assert_close(got, batch[1])
    assert got.untyped_storage().nbytes() == 3 * 2 * 2 * 4  # a copy, not a view holding the whole batch
    assert cache.get("b") is None
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)


def test_memory_cache_stops_admitting_when_full():
    cache = MemoryFeatureCache(max_items=2)
    for key in "abc":
        cache.put(key, torch.zeros(1))
    assert len(cache) == 2 and cache.get("c") is None and cache.get("a") is not None


def test_memory_cache_lru_and_byte_bound():
    cache = MemoryFeatureCache(max_bytes=3 * 16, eviction="lru")
    for key in "abc":
        cache.put(key, torch.zeros(4))  # 16 bytes each
    cache.get("a")  # a becomes the most recent
    cache.put("d", torch.zeros(4))
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("d") is not None
    assert cache.nbytes == 48
    cache.put("huge", torch.zeros(100))
    assert cache.get("huge") is None


def test_disk_cache_roundtrip_bound_and_persistence(tmp_path):
    cache = build_feature_cache(dict(type="disk", dir=str(tmp_path / "c"), max_bytes=1))
    value = torch.randn(5, 3)
    cache.put("x", value)
    torch.testing.assert_close(cache.get("x"), value)
    cache.put("y", value)  # over the bound: not written
    assert cache.get("y") is None and len(cache) == 1
    reopened = DiskFeatureCache(str(tmp_path / "c"), max_bytes=10**6)
    assert reopened.nbytes > 0
    torch.testing.assert_close(reopened.get("x"), value)
    assert not list((tmp_path / "c").glob("*.tmp"))


def test_build_feature_cache():
    assert build_feature_cache(None) is None
    cache = MemoryFeatureCache()
    assert build_feature_cache(cache) is cache
    assert isinstance(build_feature_cache(dict(type="memory", max_items=3)), MemoryFeatureCache)
    with pytest.raises(ValueError):
        build_feature_cache(dict(type="redis"))
    with pytest.raises(ValueError):
        MemoryFeatureCache(eviction="fifo")


def test_feature_cache_refuses_a_random_training_pipeline(tmp_path):
    """A cache keyed by path behind a random augmentation would train on stale features: refused at config time."""
    from gen3d.engine.launch import build_train_config
    from gen3d.models.anomaly.feature_cache import check_cacheable_pipeline
    from tests.conftest import REPO_ROOT

    base = REPO_ROOT / "configs" / "uniad" / "uniad_effnet-lite0_1xb8-200e_mvtec-224.py"
    check_cacheable_pipeline(build_train_config(str(base), str(tmp_path), str(tmp_path)).train_dataloader.dataset
                             .pipeline)  # the recipe's own pipeline is deterministic
    flip = tmp_path / "flip.py"
    flip.write_text(f"_base_ = [{str(base)!r}]\n"
                    "train_dataloader = dict(dataset=dict(pipeline=[dict(type='LoadAnomalyImage'), "
                    "dict(type='Albu', transforms=[dict(type='Resize', height=224, width=224), "
                    "dict(type='HorizontalFlip', p=0.5)]), dict(type='PackAnomalyInputs')]))\n")
    with pytest.raises(ValueError, match="Albu transform HorizontalFlip may draw random augmentations"):
        build_train_config(str(flip), str(tmp_path), str(tmp_path))
    build_train_config(str(flip), str(tmp_path), str(tmp_path), cfg_options={"model.feature_cache": None})
    with pytest.raises(ValueError, match="transform SegStrongAug"):
        check_cacheable_pipeline([dict(type="SegStrongAug")])
    with pytest.raises(ValueError, match="Albu transform Resize"):  # p < 1: drawn
        check_cacheable_pipeline([dict(type="Albu", transforms=[dict(type="Resize", height=8, width=8, p=0.5)])])
