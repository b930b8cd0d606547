"""VisA -> MVTec conversion: class names and stems from the split csv are data, never paths outside the output."""

from gen3d.datasets.anomaly.convert import visa_to_mvtec
from gen3d.datasets.anomaly.visa import VisADataset
from tests.helpers.anomaly_data import make_visa_tree


def test_names_from_the_csv_stay_inside_out_root(tmp_path, monkeypatch):
    raw = make_visa_tree(tmp_path / "visa")
    original = VisADataset.get_data_info

    def evil(self, index):  # what a crafted split csv could hand over
        info = dict(original(self, index))
        info["cls_name"] = "../../.." if index % 2 else "..\\.."
        return info

    monkeypatch.setattr(VisADataset, "get_data_info", evil)
    out = tmp_path / "a" / "b" / "out"
    counts = visa_to_mvtec(str(raw), str(out))
    assert set(counts) == {"../../..", "..\\.."}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and raw not in p.parents]
    assert written and all(out in p.parents for p in written), [p for p in written if out not in p.parents]
    assert len({p.parent for p in written if p.parent.name == "good"}) == 4  # 2 classes x (train, test), apart
