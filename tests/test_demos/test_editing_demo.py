"""``make demo-editing``'s orchestration (gen3d.demos.editing_demo, tools/demo_editing.py) on the tiny 16-px StyleGAN2,
with stand-ins for the InterClassGAN child and PadInv (tests/helpers/fake_interclass_demo.py)."""

import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

from gen3d.apis.editing import resolve_label_region
from gen3d.datasets.gan_synthesis import build_gan_demo_dataset
from gen3d.demos.editing_demo import (
    PART_NAMES,
    face_parts,
    format_demo,
    parts_region_fn,
    run_editing_demo,
    write_parts_map,
)
from gen3d.models.editing import load_directions
from tests.conftest import REPO_ROOT
from tests.helpers.gan import make_tiny_gan_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
FAKE = "tests.helpers.fake_interclass_demo"
REGIONS = ["mouth (FFHQ box)", "eyes (LFW box)", "eyes (label map)", "eyes (per sample)"]


def _face(size=32):
    """A face brightest in the middle column, two dark eyes (upper face), a dark mouth (lower face), dark outside."""
    img = np.full((size, size), 30.0)
    img[6:28, 5:26] = 200 - 5 * np.abs(np.arange(5, 26) - 15)
    img[10:12, 8:12], img[10:12, 19:23], img[21:23, 12:20] = 20, 20, 40
    return img


def test_face_parts_labels_eyes_mouth_and_skin():
    ids = face_parts(_face())
    assert ids[10, 9] == 1 and ids[10, 20] == 1 and ids[21, 15] == 2 and ids[15, 15] == 3 and ids[0, 0] == 0
    assert set(np.unique(ids)) <= set(range(len(PART_NAMES)))
    import torch

    mask = parts_region_fn(torch.from_numpy(_face()).float()[None, None].repeat(1, 3, 1, 1) / 127.5 - 1)
    assert mask.dtype == torch.bool and bool(mask[10, 9]) and not bool(mask[21, 15])


def test_parts_map_is_a_label_map_region(tmp_path):
    data = build_gan_demo_dataset(tmp_path / "lfw", resolution=32, n_holdout=20, channels=1, seed=0)
    png, names = write_parts_map(str(data / "train"), str(tmp_path / "out"))
    stored, mask, meta = resolve_label_region(png, "eyes", 16, names)
    assert meta["region_labels"] == [1] and meta["region_label_names"] == ["eyes"]
    assert 0 < int(mask.sum()) < 256 and stored.shape == (16, 16)
    assert mask[:3].sum() == 0 and mask[4:7].sum() > mask.sum() / 2  # mostly the eye band (32 px rows 8-13)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_editing")
    ckpt = make_tiny_gan_checkpoint(root / "g.pth")
    res = run_editing_demo(str(root / "work"), stylegan2_ckpt=str(ckpt), iters_padinv=7, iters_interclass=2,
                           num_per_class=3, num_random=2, interclass_module=FAKE, padinv_module=FAKE)
    return root, str(ckpt), res


def test_demo_runs_all_parts_and_shares_the_generator(demo):
    root, ckpt, res = demo
    work = root / "work"
    assert list(res["resefa"]["tables"]) == REGIONS
    for rows in res["resefa"]["tables"].values():
        assert [r["direction"] for r in rows] == ["ReSeFa top", "SeFa top", "random (mean of 2)"]
        assert all(np.isfinite(r["locality"]) and r["locality"] > 0 for r in rows)
    assert res["padinv"]["generator_ckpt"] == ckpt and res["padinv"]["iters"] == 7  # PadInv inverts the same G
    assert res["padinv"]["work_dir"] == str(work / "padinv")
    ic = res["interclassgan"]
    assert ic["iters"] == 2 and ic["threads"] == 1 and "wall_s" in ic
    assert json.loads((work / "interclassgan" / "marker.json").read_text()) == {"threads_env": "1"}
    assert "fake InterClassGAN: iters 2, 3 per class" in (work / "interclassgan" / "run.log").read_text()
    held = {p.name for p in (work / "data" / "lfw-faces" / "holdout").glob("*.png")}
    assert len(held) == 20 and res["stylegan2"]["data_root"] == str(work / "data" / "lfw-faces" / "train")


def test_demo_pictures_and_label_direction_files(demo):
    root, _, res = demo
    out = root / "work" / "resefa"
    names = sorted(p.name for p in out.rglob("*") if p.suffix in (".png", ".gif"))
    assert names.count("grid_dir000.png") == 3 and sum(n.endswith(".gif") for n in names) == 9
    assert len(res["resefa"]["pictures"]) == 12 and all(osp.isfile(p) for p in res["resefa"]["pictures"])
    ds = load_directions(out / "eyes_labels.npz")
    assert ds.metadata["extra"]["region_labels"] == [1] and ds.metadata["extra"]["region_label_names"] == ["eyes"]
    assert load_directions(out / "sefa.npz").metadata["method"] == "sefa"


def test_demo_table_prints_every_part(demo):
    _, _, res = demo
    text = format_demo(res, interclass_module=FAKE, padinv_module=FAKE)
    assert all(name in text for name in REGIONS) and "ReSeFa top" in text and "x random" in text
    assert "fake cat: 0.50" in text and "fake PadInv: 7 iterations" in text and "given" in text


def test_child_failure_and_timeout_are_reported_with_the_log(tmp_path):
    res = run_editing_demo(str(tmp_path / "a"), skip=("resefa", "padinv"), num_per_class=0, interclass_module=FAKE)
    err = res["interclassgan"]["error"]
    log = tmp_path / "a" / "interclassgan" / "run.log"
    assert "InterClassGAN failed (exit 1)" in err and str(log) in err and "fake failure" in err
    assert "stylegan2" not in res and "resefa" not in res
    res = run_editing_demo(str(tmp_path / "b"), skip=("resefa", "padinv"), iters_interclass=3000,
                           interclass_timeout_s=1, interclass_module=FAKE)
    assert "timed out after 1 s and was stopped" in res["interclassgan"]["error"]
    assert res["seconds"]["all"] < 20
    assert "not run: InterClassGAN timed out" in format_demo(res, interclass_module=FAKE)


def test_padinv_failure_does_not_hide_the_other_parts(tmp_path, demo):
    _, ckpt, _ = demo
    res = run_editing_demo(str(tmp_path), skip=("resefa",), stylegan2_ckpt=ckpt, iters_padinv=0, iters_interclass=1,
                           num_per_class=1, interclass_module=FAKE, padinv_module=FAKE)
    err = res["padinv"]["error"]
    assert "padinv failed: RuntimeError: fake PadInv failure" in err and str(tmp_path / "padinv_error.log") in err
    assert "Traceback" in (tmp_path / "padinv_error.log").read_text() and res["interclassgan"]["iters"] == 1
    with pytest.raises(ValueError, match="skip: unknown parts"):
        run_editing_demo(str(tmp_path), skip=("sefa",))
    with pytest.raises(FileNotFoundError, match="stylegan2_ckpt"):
        run_editing_demo(str(tmp_path), skip=("interclassgan",), stylegan2_ckpt=str(tmp_path / "missing.pth"))


def _tool():
    spec = importlib.util.spec_from_file_location("demo_editing", REPO_ROOT / "tools" / "demo_editing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_prints_tables_writes_results_and_exits_1_on_failure(tmp_path, capsys):
    tool = _tool()
    args = ["--skip", "resefa", "padinv", "--interclass-module", FAKE, "--iters-interclass", "1"]
    assert tool.main(["--work-dir", str(tmp_path / "ok"), *args]) == 0
    out = capsys.readouterr().out
    assert "InterClassGAN:\n  fake cat: 0.50" in out and "results " + str(tmp_path / "ok" / "results.json") in out
    assert json.loads((tmp_path / "ok" / "results.json").read_text())["interclassgan"]["iters"] == 1
    assert tool.main(["--work-dir", str(tmp_path / "bad"), *args, "--num-per-class", "0"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: interclassgan" in out and str(tmp_path / "bad" / "interclassgan" / "run.log") in out
