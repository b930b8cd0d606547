"""tools/dataset_converters/seg_class_stats.py: DAFormer's class statistics files from a gen3d dataset's masks."""

import importlib.util
import json
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.helpers.seg_data import (
    GTA5_N,
    H,
    W,
    gta5_raw_label,
    image,
    make_gta5_tree,
    write_grey,
    write_lines,
    write_rgb,
)

TOOL = REPO_ROOT / "tools" / "dataset_converters" / "seg_class_stats.py"


def _tool():
    spec = importlib.util.spec_from_file_location("seg_class_stats", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the --nproc workers unpickle the tool's worker function by module name
    spec.loader.exec_module(module)
    return module


def _folder(root, masks: dict[str, np.ndarray]):
    for k, (stem, mask) in enumerate(masks.items()):
        write_rgb(root / "images" / f"{stem}.png", image(k, *mask.shape))
        write_grey(root / "masks" / f"{stem}.png", mask)
    write_lines(root / "splits" / "labeled.txt", list(masks))
    write_lines(root / "classes.txt", ["a", "b", "c"])
    return root


def test_hand_counts_on_a_folder_dataset(tmp_path, capsys):
    one = np.array([[0, 0, 2], [255, 2, 2]], np.uint8)
    two = np.array([[1, 1, 1], [1, 255, 0]], np.uint8)
    root = _folder(tmp_path / "data", {"one": one, "two": two})
    _tool().main(["FolderSegDataset", str(root), "--split", "labeled", "-o", str(tmp_path / "out")])
    f1, f2 = str(root / "masks" / "one.png"), str(root / "masks" / "two.png")
    stats = json.loads((tmp_path / "out" / "sample_class_stats.json").read_text())
    assert stats == [{"0": 2, "2": 3, "file": f1}, {"0": 1, "1": 4, "file": f2}]
    assert json.loads((tmp_path / "out" / "sample_class_stats_dict.json").read_text()) == {
        f1: {"0": 2, "2": 3}, f2: {"0": 1, "1": 4}}
    assert json.loads((tmp_path / "out" / "samples_with_class.json").read_text()) == {
        "0": [[f1, 2], [f2, 1]], "2": [[f1, 3]], "1": [[f2, 4]]}
    table = capsys.readouterr().out
    assert "2 masks" in table and "wrote" in table


def test_gta5_labels_are_mapped_to_train_ids_and_nproc_agrees(tmp_path):
    root = make_gta5_tree(tmp_path / "gta")
    _tool().main(["GTA5Dataset", str(root), "-o", str(tmp_path / "one")])
    _tool().main(["GTA5Dataset", str(root), "-o", str(tmp_path / "two"), "--nproc", "2"])
    stats = json.loads((tmp_path / "one" / "sample_class_stats.json").read_text())
    assert len(stats) == GTA5_N
    for i, entry in enumerate(stats):
        raw = gta5_raw_label(i)  # label ids 7 road, 26 car, 33 bicycle; 0 and 3 are void
        assert entry == {"0": int((raw == 7).sum()), "13": int((raw == 26).sum()), "18": int((raw == 33).sum()),
                         "file": str(root / "labels" / f"{i:05d}.png")}
        assert sum(v for k, v in entry.items() if k != "file") < H * W
    for name in ("sample_class_stats.json", "sample_class_stats_dict.json", "samples_with_class.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_unreadable_and_out_of_range_masks_name_the_file(tmp_path):
    root = _folder(tmp_path / "data", {"ok": np.zeros((H, W), np.uint8), "wide": np.full((H, W), 7, np.uint8)})
    with pytest.raises(ValueError, match=r"wide\.png has values \[7\]"):
        _tool().main(["FolderSegDataset", str(root), "--split", "labeled"])
    (root / "masks" / "wide.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    with pytest.raises(ValueError, match=r"cannot read mask file .*wide\.png"):
        _tool().main(["FolderSegDataset", str(root), "--split", "labeled", "--nproc", "2"])
    assert not (root / "sample_class_stats.json").exists()
