"""SerializedDataset: mmengine's record buffer without the full garbage collection mmengine runs after it."""

import gc

import numpy as np
import pytest
from mmengine.dataset import BaseDataset

from gen3d.datasets.anomaly.base import AnomalyDataset
from gen3d.datasets.gan.image_folder import ImageFolderDataset
from gen3d.datasets.gan.pose_dataset import PoseImageDataset
from gen3d.datasets.rgbd import RGBDDataset
from gen3d.datasets.segmentation.base import SegDataset
from gen3d.datasets.serialized import SerializedDataset

RECORDS = [dict(img_path=f"a/{i}.png", label=i, meta=dict(cls_name="bottle", box=[i, i + 1])) for i in range(5)]


class _Records(SerializedDataset):
    def load_data_list(self) -> list[dict]:
        return [dict(r) for r in self.records]

    def __init__(self, records: list[dict], **kwargs) -> None:
        self.records = records
        super().__init__(**kwargs)


class _MMRecords(BaseDataset):
    load_data_list = _Records.load_data_list

    def __init__(self, records: list[dict], **kwargs) -> None:
        self.records = records
        super().__init__(**kwargs)


def test_same_buffer_and_records_as_mmengine_without_a_gc_pass(monkeypatch):
    reference = _MMRecords(RECORDS)
    calls = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append(a) or 0)
    ours = _Records(RECORDS)
    assert calls == [], "serialising must not walk the heap"
    assert np.array_equal(ours.data_bytes, reference.data_bytes)
    assert np.array_equal(ours.data_address, reference.data_address)
    assert ours.data_list == [] and len(ours) == len(RECORDS)
    for i, rec in enumerate(RECORDS):
        assert ours.get_data_info(i) == {**rec, "sample_idx": i}
    empty = _Records([])
    assert len(empty) == 0 and empty.data_bytes.size == 0


@pytest.mark.parametrize("cls", [AnomalyDataset, SegDataset, ImageFolderDataset, PoseImageDataset, RGBDDataset])
def test_every_file_list_dataset_uses_it(cls):
    assert issubclass(cls, SerializedDataset)
