"""gen3d.apis.editing end to end on the tiny 16-px StyleGAN2 checkpoint (num_ws 6, w_dim 16), and the benchmark row."""

import argparse
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from gen3d.apis.benchmarks import BENCH_TASKS
from gen3d.apis.editing import (
    OUTLINE_RGB,
    compute_directions,
    load_mask,
    locality_table,
    manipulate,
    outline,
    resolve_region,
)
from gen3d.apis.editing_benchmarks import EDITING_COLUMNS, editing_task
from gen3d.models.editing import box_to_mask, file_sha256, load_directions, save_directions
from tests.helpers.gan import make_tiny_gan_checkpoint
from tests.test_models.test_editing import tiny_generator

pytestmark = pytest.mark.usefixtures("one_thread")
BOX_256 = [128, 128, 64, 64]  # -> [8, 8, 4, 4] at 16 px: rows / columns 6..9
BOX_16 = [8, 8, 4, 4]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("editing")
    torch.set_num_threads(1)
    ckpt = make_tiny_gan_checkpoint(root / "g.pth")
    resefa = compute_directions(str(ckpt), str(root / "resefa.npz"), "resefa", BOX_256, num_samples=2)
    sefa = compute_directions(str(ckpt), str(root / "sefa.npz"), "sefa")
    return root, str(ckpt), resefa, sefa


def test_compute_directions_stores_scaled_box_and_checkpoint_hash(files):
    _, ckpt, resefa, sefa = files
    ds = load_directions(resefa)
    assert ds.directions.shape == (16, 16) and ds.metadata["method"] == "resefa"
    assert ds.metadata["region"] == {"type": "box", "box": BOX_16} and ds.metadata["resolution"] == 16
    assert ds.metadata["samples"] == 2 and ds.metadata["checkpoint_sha256"] == file_sha256(ckpt)
    assert np.allclose(np.linalg.norm(ds.directions, axis=1), 1)
    ds = load_directions(sefa)
    assert ds.metadata["method"] == "sefa" and ds.metadata["region"] is None
    assert ds.metadata["checkpoint_sha256"] == file_sha256(ckpt)


def test_per_sample_directions_are_the_official_one_set_per_latent(files, tmp_path):
    _, ckpt, averaged, _ = files
    first = compute_directions(ckpt, str(tmp_path / "eyes.npz"), "resefa", BOX_256, num_samples=2, per_sample=True)
    assert first == str(tmp_path / "eyes_s0.npz") and not (tmp_path / "eyes.npz").exists()
    sets = [load_directions(tmp_path / f"eyes_s{i}.npz") for i in range(2)]
    assert [d.metadata["extra"]["sample"] for d in sets] == [0, 1] and not (tmp_path / "eyes_s2.npz").exists()
    assert all(d.directions.shape == (16, 16) and d.metadata["samples"] == 2 for d in sets)
    assert not np.allclose(np.abs(sets[0].directions[0]), np.abs(sets[1].directions[0]))  # two latents, two sets
    mean = load_directions(averaged).directions[0]
    assert not any(np.allclose(np.abs(d.directions[0]), np.abs(mean)) for d in sets)  # neither is the average
    with pytest.raises(ValueError, match="per_sample: only ReSeFa"):
        compute_directions(ckpt, str(tmp_path / "x.npz"), "sefa", per_sample=True)


def test_compute_directions_refuses_region_for_sefa_and_none_for_resefa(files, tmp_path):
    _, ckpt, _, _ = files
    with pytest.raises(ValueError, match="region: SeFa"):
        compute_directions(ckpt, str(tmp_path / "x.npz"), "sefa", BOX_256)
    with pytest.raises(ValueError, match="region: ReSeFa needs"):
        compute_directions(ckpt, str(tmp_path / "x.npz"), "resefa")
    with pytest.raises(ValueError, match="neither a box name"):
        compute_directions(ckpt, str(tmp_path / "x.npz"), "resefa", "forehead")
    assert not (tmp_path / "x.npz").exists()


def test_resolve_region_scales_official_boxes():
    stored, mask = resolve_region([120, 128, 20, 115], 16)  # the official "eyes" box, 256 px -> 16 px
    assert stored == [7, 7, 1, 7] and mask.shape == (16, 16) and int(mask.sum()) == 7 and mask[7, 4:11].all()
    stored, mask = resolve_region("eyes", 16)
    assert stored == "eyes" and int(mask.sum()) == 7
    array = np.zeros((32, 32), bool)
    array[:8, :8] = True
    stored, mask = resolve_region(array, 16)
    assert stored.dtype == np.bool_ and stored.shape == (16, 16) and int(mask.sum()) == 16


def test_mask_files_are_read_as_data(tmp_path):
    mask = np.zeros((32, 32), np.uint8)
    mask[8:16, 4:12] = 1
    np.save(tmp_path / "m.npy", mask)
    Image.fromarray(mask * 255).save(tmp_path / "m.png")
    for name in ("m.npy", "m.png"):
        got = load_mask(str(tmp_path / name), 16)
        assert got.dtype == torch.bool and got.shape == (16, 16) and int(got.sum()) == 16 and got[4:8, 2:6].all()
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain array"):
        load_mask(str(tmp_path / "obj.npy"), 16)


def test_compute_directions_with_a_mask_file(files, tmp_path):
    _, ckpt, _, _ = files
    mask = np.zeros((16, 16), bool)
    mask[2:6, 3:9] = True
    np.save(tmp_path / "m.npy", mask)
    ds = load_directions(compute_directions(ckpt, str(tmp_path / "d.npz"), "resefa", str(tmp_path / "m.npy"),
                                            num_samples=1))
    assert ds.metadata["region"]["type"] == "mask" and np.array_equal(ds.region_mask, mask)


def test_outline_is_the_region_border():
    edge = outline(box_to_mask(BOX_16, 16))
    assert int(edge.sum()) == 12 and edge[6, 6:10].all() and edge[9, 6:10].all() and not edge[7:9, 7:9].any()


def _red(img: np.ndarray, edge: np.ndarray) -> bool:
    return bool((img[edge] == np.array(OUTLINE_RGB, np.uint8)).all())


def test_manipulate_writes_grid_gifs_and_outlines_the_region(files, tmp_path):
    _, ckpt, resefa, sefa = files
    paths = manipulate(ckpt, resefa, str(tmp_path / "r"), seeds=(0, 1), steps=5)
    assert [p.rsplit("/", 1)[1] for p in paths] == ["grid_dir000.png", "seed_0000_dir000.gif", "seed_0001_dir000.gif"]
    grid = np.asarray(Image.open(paths[0]).convert("RGB"))
    assert grid.shape == (2 * 16, 5 * 16, 3)
    with Image.open(paths[1]) as gif:
        assert gif.n_frames == 5 + 3 and gif.size == (16, 16)
    edge = outline(box_to_mask(BOX_16, 16)).numpy()
    cells = {(r, c): grid[16 * r:16 * r + 16, 16 * c:16 * c + 16] for r in range(2) for c in range(5)}
    assert all(_red(cells[r, 2], edge) for r in range(2))  # the strength-0 column only
    inside = box_to_mask(BOX_16, 16).numpy() & ~edge
    assert not any(_red(cells[r, 2], inside) for r in range(2))  # an outline, not a filled box
    assert not any(_red(cell, edge) for (r, c), cell in cells.items() if c != 2)
    plain = np.asarray(Image.open(manipulate(ckpt, sefa, str(tmp_path / "s"), seeds=(0,), steps=5)[0]))
    assert not any(_red(plain[:, 16 * c:16 * c + 16], edge) for c in range(5))


def test_manipulate_clips_layers_to_the_generator(files, tmp_path):
    _, ckpt, resefa, _ = files
    a = np.asarray(Image.open(manipulate(ckpt, resefa, str(tmp_path / "a"), layers=(4, 5, 6, 7), seeds=(0,))[0]))
    b = np.asarray(Image.open(manipulate(ckpt, resefa, str(tmp_path / "b"), layers=(4, 5), seeds=(0,))[0]))
    c = np.asarray(Image.open(manipulate(ckpt, resefa, str(tmp_path / "c"), layers=(3,), seeds=(0,))[0]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError, match="none exists in this generator"):
        manipulate(ckpt, resefa, str(tmp_path / "d"), layers=(6, 7))


def test_manipulate_refuses_directions_of_another_generator(files, tmp_path):
    _, ckpt, resefa, _ = files
    other = make_tiny_gan_checkpoint(tmp_path / "other.pth", seed=1)
    with pytest.raises(ValueError, match="another generator"):
        manipulate(str(other), resefa, str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()
    ds = load_directions(resefa)
    save_directions(tmp_path / "nosha.npz", ds.directions, ds.eigenvalues, method="resefa", layers=None,
                    region=BOX_16, resolution=16)
    with pytest.warns(UserWarning, match="no checkpoint sha256"):
        manipulate(ckpt, str(tmp_path / "nosha.npz"), str(tmp_path / "n"), seeds=(0,), steps=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manipulate(ckpt, resefa, str(tmp_path / "ok"), seeds=(0,), steps=3)
    assert not [w for w in caught if "sha256" in str(w.message)]


def test_locality_table_rows():
    gen = tiny_generator()
    rows = locality_table(gen, BOX_16, num_eval=2, num_random=3, num_samples=1)
    assert [r["direction"] for r in rows] == ["ReSeFa top", "SeFa top", "random (mean of 3)"]
    assert all(set(r) == set(EDITING_COLUMNS) for r in rows)
    assert all(math.isfinite(r[k]) for r in rows for k in ("locality", "std", "x random"))
    assert rows[0]["locality"] > 0 and rows[2]["x random"] == 1.0 and rows[2]["std"] > 0
    assert rows[0]["x random"] == pytest.approx(rows[0]["locality"] / rows[2]["locality"])
    with pytest.raises(ValueError, match="seed must differ"):
        locality_table(gen, BOX_16, seed=4, direction_seed=4)


def test_benchmark_task_rows(files):
    _, ckpt, _, _ = files
    assert BENCH_TASKS["resefa-locality"].run is editing_task
    rows, title = editing_task(argparse.Namespace(checkpoint=None, resolution=[8], rounds=2), torch.device("cpu"))
    assert [r["direction"] for r in rows][-1] == "random (mean of 2)" and "UNTRAINED" in title
    assert all(set(r) == set(EDITING_COLUMNS) for r in rows) and "[4, 4, 2, 2] at 8 px" in title
    rows, title = editing_task(argparse.Namespace(checkpoint=ckpt, resolution=None, rounds=2), torch.device("cpu"))
    assert len(rows) == 3 and "UNTRAINED" not in title and "at 16 px" in title


def test_layer_lists_parse_with_the_seed_parser():
    from gen3d.runtime.generation import parse_seeds  # what the editing tools parse --layers / --seeds with

    assert parse_seeds("4,5,6") == [4, 5, 6] and parse_seeds("0-2,9") == [0, 1, 2, 9]
    with pytest.raises(ValueError):
        parse_seeds("a")
