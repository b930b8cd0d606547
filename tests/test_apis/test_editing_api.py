"""gen3d.apis.editing end to end on the tiny 16-px StyleGAN2 checkpoint (num_ws 6, w_dim 16), and the benchmark row."""

import argparse
import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from gen3d.apis.editing import (
    OUTLINE_RGB,
    compute_directions,
    load_mask,
    locality_table,
    manipulate,
    outline,
    resolve_region,
)
from gen3d.benchmarks.benchmarks import BENCH_TASKS
from gen3d.benchmarks.editing_benchmarks import EDITING_COLUMNS, editing_task
from gen3d.models.editing import box_to_mask, file_sha256, load_directions, save_directions
from tests.conftest import run_tool_main
from tests.helpers.gan import make_tiny_gan_checkpoint
from tests.helpers.pigan import make_tiny_pigan_checkpoint
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


# ------------------------------------------------------------------ label-map regions, region functions, refusals
LABEL_CFG = {"classes": ["background", "face", "hair", "eyes", "nose", "mouth"]}


def _label_map(tmp_path, size=32):
    """A 32-px label map: 0 background, 1 face, 3 an eyes band (rows 10-13), 5 a mouth (rows 20-23)."""
    ids = np.zeros((size, size), np.uint8)
    ids[4:28, 6:26], ids[10:14, 8:24], ids[20:24, 12:20] = 1, 3, 5
    Image.fromarray(ids).save(tmp_path / "parts.png")
    (tmp_path / "classes.json").write_text(json.dumps(LABEL_CFG))
    return ids


def test_compute_directions_from_label_map_records_the_labels(files, tmp_path):
    _, ckpt, _, _ = files
    ids = _label_map(tmp_path)
    out = compute_directions(ckpt, str(tmp_path / "d.npz"), "resefa", str(tmp_path / "parts.png"), num_samples=1,
                             region_labels="eyes,mouth", class_names=str(tmp_path / "classes.json"))
    ds = load_directions(out)
    want = np.isin(ids, [3, 5])[::2, ::2]  # nearest 32 -> 16 px
    assert ds.metadata["region"] == {"type": "mask", "shape": [16, 16]} and np.array_equal(ds.region_mask, want)
    extra = ds.metadata["extra"]
    assert extra["region_labels"] == [3, 5] and extra["region_label_names"] == ["eyes", "mouth"]
    assert extra["label_map"].endswith("parts.png") and extra["label_map_sha256"] == file_sha256(tmp_path / "parts.png")
    by_id = load_directions(compute_directions(ckpt, str(tmp_path / "e.npz"), "resefa", str(tmp_path / "parts.png"),
                                               num_samples=1, region_labels=[3, 5]))
    assert np.allclose(by_id.directions, ds.directions) and by_id.metadata["extra"]["region_label_names"] is None


def test_compute_directions_with_a_region_fn_records_it(files, tmp_path):
    _, ckpt, _, _ = files

    def dark_half(image):
        grey = image[0].mean(0)
        return grey < grey.median()

    ds = load_directions(compute_directions(ckpt, str(tmp_path / "f.npz"), "resefa", region_fn=dark_half,
                                            num_samples=2))
    assert ds.metadata["region"] is None and ds.region_mask is None
    assert ds.metadata["extra"]["region_fn"].endswith("dark_half")
    assert len(ds.metadata["extra"]["region_pixels"]) == 2 and all(0 < p < 256 for p in
                                                                  ds.metadata["extra"]["region_pixels"])
    with pytest.raises(ValueError, match="region_fn: give either region or region_fn"):
        compute_directions(ckpt, str(tmp_path / "g.npz"), "resefa", "eyes", region_fn=dark_half)
    compute_directions(ckpt, str(tmp_path / "p.npz"), "resefa", region_fn=dark_half, num_samples=2, per_sample=True)
    own = [load_directions(tmp_path / f"p_s{i}.npz") for i in range(2)]
    assert [int(d.region_mask.sum()) for d in own] == ds.metadata["extra"]["region_pixels"]  # each sample's region
    assert not np.array_equal(own[0].region_mask, own[1].region_mask)


def test_locality_table_with_a_per_sample_region():
    gen = tiny_generator()

    def bright_quarter(image):
        grey = image[0].mean(0)
        return grey > grey.flatten().quantile(0.75)

    rows = locality_table(gen, None, num_eval=2, num_random=2, num_samples=2, region_fn=bright_quarter)
    assert [r["direction"] for r in rows] == ["ReSeFa top", "SeFa top", "random (mean of 2)"]
    assert all(math.isfinite(r["locality"]) and r["locality"] > 0 for r in rows)
    fixed = locality_table(gen, BOX_16, num_eval=2, num_random=2, num_samples=2)
    assert fixed[1]["locality"] != rows[1]["locality"]  # SeFa's direction is the same: the regions differ
    with pytest.raises(ValueError, match="exactly one of region and region_fn"):
        locality_table(gen, None)


def _refusal(*args):
    res = run_tool_main("editing/compute_directions.py", *args)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    return res.stderr


def test_tool_refusals_name_the_argument(files, tmp_path):
    _, ckpt, _, _ = files
    _label_map(tmp_path)
    out, png = str(tmp_path / "x.npz"), str(tmp_path / "parts.png")
    names = str(tmp_path / "classes.json")
    assert "region_labels: label(s) [7] absent from the label map" in _refusal(ckpt, "--out", out, "--region-mask",
                                                                             png, "--region-labels", "3,7")
    assert "ids present: [0, 1, 3, 5]" in _refusal(ckpt, "--out", out, "--region-mask", png, "--region-labels", "7")
    assert "'ears' is not a class name" in _refusal(ckpt, "--out", out, "--region-mask", png, "--region-labels",
                                                    "ears", "--class-names", names)
    err = _refusal(ckpt, "--out", out, "--region-mask", png, "--region-labels", "0,1,3,5")
    assert "region_labels: the region covers the whole image" in err and "256 of 256" in err
    dot = np.zeros((64, 64), np.int64)
    dot[0, 1] = 2  # one pixel of 4096, gone at the 16-px Jacobian resolution
    np.save(tmp_path / "dot.npy", dot)
    err = _refusal(ckpt, "--out", out, "--region-mask", str(tmp_path / "dot.npy"), "--region-labels", "2")
    assert "region_labels: the region is empty (1 of 4096 pixels" in err and "0 of 256 at the 16x16 Jacobian" in err
    np.save(tmp_path / "dotmask.npy", dot > 0)
    err = _refusal(ckpt, "--out", out, "--region-mask", str(tmp_path / "dotmask.npy"))
    assert "region: the region is empty (1 of 4096 pixels in the 64x64 mask file" in err
    assert "--region-labels: needs --region-mask" in _refusal(ckpt, "--out", out, "--region-labels", "3")
    assert "--region-mask: give either" in _refusal(ckpt, "--out", out, "--region", "eyes", "--region-mask", png)
    assert "class_names: only used with region_labels" in _refusal(ckpt, "--out", out, "--region-mask", png,
                                                                   "--class-names", names)
    with pytest.raises(ValueError, match="region_labels: needs a label-map file"):
        compute_directions(ckpt, out, "resefa", "eyes", region_labels="3")
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("kind", ["pigan", "biggan"])
def test_generators_without_w_are_refused_naming_the_checkpoint(kind, tmp_path):
    if kind == "pigan":
        ckpt = make_tiny_pigan_checkpoint(tmp_path / "pi.pth")
    else:
        from mmengine.config import Config

        from gen3d.registry import MODELS

        cfg = Config.fromstring(BIGGAN_CFG, file_format=".py")
        torch.manual_seed(0)
        model = MODELS.build(cfg.model.to_dict())
        ckpt = tmp_path / "big.pth"
        torch.save({"state_dict": model.state_dict(), "meta": {"cfg": cfg.pretty_text, "model_type": "BigGAN"}}, ckpt)
    for method in ("resefa", "sefa"):
        err = _refusal(str(ckpt), "--out", str(tmp_path / "x.npz"), "--method", method,
                       *(["--region", "eyes"] if method == "resefa" else []))
        assert f"checkpoint {ckpt}: its generator" in err and "exposes no w space" in err
        assert "StyleGAN2-style generator" in err
    save_directions(tmp_path / "d.npz", np.eye(4), np.ones(4), method="sefa", layers=None)
    with pytest.raises(TypeError, match=f"checkpoint {ckpt}: its generator"), pytest.warns(UserWarning):
        manipulate(str(ckpt), str(tmp_path / "d.npz"), str(tmp_path / "m"))


BIGGAN_CFG = """
default_scope = "gen3d"
model = dict(type="BigGAN",
             generator=dict(type="BigGANGenerator", resolution=16, z_dim=12, c_dim=3, shared_dim=8, ch=4),
             discriminator=dict(type="ProjectionDiscriminator", resolution=16, c_dim=3, ch=4))
"""


def _bench(**kw):
    return argparse.Namespace(**{"checkpoint": None, "resolution": [16], "rounds": 2, "region": None,
                                 "region_labels": None, "class_names": None, **kw})


def test_benchmark_regions_box_name_mask_and_label_map(files, tmp_path):
    from gen3d.benchmarks.editing_benchmarks import benchmark_region

    _, ckpt, _, _ = files
    ids = _label_map(tmp_path)
    mask, where = benchmark_region(_bench(region="128,128,64,64"), 16)
    assert torch.equal(mask, box_to_mask(BOX_16, 16)) and "[8, 8, 4, 4] at 16 px" in where
    mask, where = benchmark_region(_bench(region=str(tmp_path / "parts.png"), region_labels="eyes,mouth",
                                          class_names=str(tmp_path / "classes.json")), 16)
    assert np.array_equal(mask.numpy(), np.isin(ids, [3, 5])[::2, ::2]) and "labels [3, 5] (eyes, mouth)" in where
    rows, title = editing_task(_bench(checkpoint=ckpt, region="mouth"), torch.device("cpu"))
    assert len(rows) == 3 and "box mouth" in title and ckpt in title
    labelled, title = editing_task(_bench(checkpoint=ckpt, region=str(tmp_path / "parts.png"), region_labels="3"),
                                   torch.device("cpu"))
    assert "label map" in title and labelled[1]["locality"] != rows[1]["locality"]  # SeFa, another region
    with pytest.raises(ValueError, match="--region-labels / --class-names: need --region"):
        benchmark_region(_bench(region_labels="3"), 16)
    with pytest.raises(ValueError, match=r"region_labels: label\(s\) \[9\] absent"):
        benchmark_region(_bench(region=str(tmp_path / "parts.png"), region_labels="9"), 16)
    with pytest.raises(ValueError, match="outside the 256x256 image"):
        benchmark_region(_bench(region="250,128,64,64"), 16)
    with pytest.raises(ValueError, match="height and width must be >= 1"):
        benchmark_region(_bench(region="128,128,0,64"), 16)
    with pytest.raises(FileNotFoundError, match="--checkpoint"):
        editing_task(_bench(checkpoint=str(tmp_path / "none.pth")), torch.device("cpu"))


def test_tool_refuses_boxes_outside_the_image_or_of_zero_area(files, tmp_path):
    _, ckpt, _, _ = files
    out = str(tmp_path / "x.npz")
    err = _refusal(ckpt, "--out", out, "--region", "250,128,64,64")
    assert "region [250, 128, 64, 64] covers rows [218, 282)" in err and "outside the 256x256 image" in err
    assert "region height and width must be >= 1" in _refusal(ckpt, "--out", out, "--region", "128,128,0,64")
    assert "outside the 256x256 image" in _refusal(ckpt, "--out", out, "--region=-5,128,20,20")
    assert not (tmp_path / "x.npz").exists()
