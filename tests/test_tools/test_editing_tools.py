"""tools/editing/compute_directions.py and manipulate.py, in-process through ``main(argv)``."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gen3d.apis.editing import manipulate
from gen3d.models.editing import load_directions
from tests.conftest import REPO_ROOT
from tests.helpers.gan import make_tiny_gan_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"editing_{name}", REPO_ROOT / "tools" / "editing" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compute_directions_then_manipulate(tmp_path: Path, capsys):
    ckpt = make_tiny_gan_checkpoint(tmp_path / "g.pth")
    out = tmp_path / "dirs" / "eyes.npz"
    _tool("compute_directions").main([str(ckpt), "--out", str(out), "--region", "eyes", "--num-samples", "1",
                                      "--layers", "0-5"])
    ds = load_directions(out)
    assert ds.metadata["region"] == {"type": "name", "name": "eyes"} and ds.metadata["layers"] == [0, 1, 2, 3, 4, 5]
    assert ds.metadata["samples"] == 1
    assert f"resefa directions -> {out}" in capsys.readouterr().out
    paths = _tool("manipulate").main([str(ckpt), str(out), "--out-dir", str(tmp_path / "m"), "--seeds", "0-1",
                                      "--steps", "3", "--scale", "2", "--index", "1", "--start", "-4", "--end", "6",
                                      "--truncation", "0.5", "--trunc-layers", "2", "--layers", "1,2"])
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["grid_dir001.png", "seed_0000_dir001.gif",
                                                                   "seed_0001_dir001.gif"]
    assert [Path(p).name for p in paths][0] == "grid_dir001.png"
    grid = np.asarray(Image.open(paths[0]))
    assert grid.shape == (2 * 32, 3 * 32, 3)
    api = manipulate(str(ckpt), str(out), str(tmp_path / "api"), 1, (1, 2), -4, 6, 3, 0.5, 2, (0, 1), scale=2)
    assert np.array_equal(grid, np.asarray(Image.open(api[0])))  # every option reaches the library


def test_per_sample_flag_writes_one_file_per_latent(tmp_path: Path):
    ckpt = make_tiny_gan_checkpoint(tmp_path / "g.pth")
    _tool("compute_directions").main([str(ckpt), "--out", str(tmp_path / "box.npz"), "--region", "128,128,64,64",
                                      "--num-samples", "2", "--per-sample"])
    assert sorted(p.name for p in tmp_path.glob("box*.npz")) == ["box_s0.npz", "box_s1.npz"]
    assert load_directions(tmp_path / "box_s1.npz").metadata["extra"]["sample"] == 1


def test_tools_exit_with_a_message(tmp_path: Path):
    assert _tool("compute_directions").parse_region("120,128,20,115") == [120, 128, 20, 115]
    assert _tool("compute_directions").parse_region("eyes") == "eyes"
    with pytest.raises(SystemExit, match="region: SeFa"):
        _tool("compute_directions").main([str(tmp_path / "missing.pth"), "--out", str(tmp_path / "x.npz"),
                                          "--method", "sefa", "--region", "1,2,3,4"])
    with pytest.raises(SystemExit, match="error:"):
        _tool("manipulate").main([str(tmp_path / "missing.pth"), str(tmp_path / "missing.npz")])


def test_label_map_region_through_the_tool(tmp_path: Path, capsys):
    ckpt = make_tiny_gan_checkpoint(tmp_path / "g.pth")
    ids = np.zeros((32, 32), np.uint8)
    ids[4:28, 6:26], ids[10:14, 8:24] = 1, 2
    Image.fromarray(ids).save(tmp_path / "parts.png")
    (tmp_path / "names.txt").write_text("background\nface\neyes\n")
    out = tmp_path / "eyes.npz"
    _tool("compute_directions").main([str(ckpt), "--out", str(out), "--region-mask", str(tmp_path / "parts.png"),
                                      "--region-labels", "eyes", "--class-names", str(tmp_path / "names.txt"),
                                      "--num-samples", "1"])
    ds = load_directions(out)
    assert np.array_equal(ds.region_mask, (ids == 2)[::2, ::2]) and ds.metadata["extra"]["region_labels"] == [2]
    assert ds.metadata["extra"]["class_names"] == str(tmp_path / "names.txt")
    paths = _tool("manipulate").main([str(ckpt), str(out), "--out-dir", str(tmp_path / "m"), "--seeds", "0",
                                      "--steps", "3"])
    assert [Path(p).name for p in paths] == ["grid_dir000.png", "seed_0000_dir000.gif"]
