"""The typed samples: meta fields and data fields kept apart, moved and collated as mmengine data elements."""

import torch
from mmengine.dataset import pseudo_collate
from mmengine.structures import BaseDataElement

from gen3d.structures import AnomalyDataSample, SegDataSample


def test_anomaly_sample_keeps_meta_and_data_apart():
    sample = AnomalyDataSample(metainfo=dict(img_path="a.png", cls_name="bottle", defect_type="good",
                                             ori_shape=(9, 11), img_shape=(8, 8)))
    sample.gt_label = torch.tensor(0)
    sample.gt_mask = torch.zeros(8, 8, dtype=torch.uint8)
    sample.anomaly_map = torch.rand(8, 8)
    sample.pred_score = sample.anomaly_map.max()
    assert isinstance(sample, BaseDataElement)
    assert set(sample.metainfo_keys()) == {"img_path", "cls_name", "defect_type", "ori_shape", "img_shape"}
    assert set(sample.keys()) == {"gt_label", "gt_mask", "anomaly_map", "pred_score"}
    copy = sample.clone().cpu()
    assert copy.cls_name == "bottle" and torch.equal(copy.anomaly_map, sample.anomaly_map)


def test_seg_samples_collate_as_a_list():
    samples = []
    for i in range(2):
        s = SegDataSample(metainfo=dict(img_path=f"{i}.png", ori_shape=(5, 7), img_shape=(4, 4), labeled=i == 0,
                                        ignore_index=255))
        if s.labeled:
            s.gt_sem_seg = torch.zeros(4, 4, dtype=torch.long)
        samples.append(s)
    batch = pseudo_collate([dict(inputs=torch.rand(3, 4, 4), data_samples=s) for s in samples])
    assert batch["inputs"][0].shape == (3, 4, 4) and len(batch["data_samples"]) == 2
    labeled, unlabeled = batch["data_samples"]
    assert "gt_sem_seg" in labeled and "gt_sem_seg" not in unlabeled and unlabeled.ignore_index == 255
