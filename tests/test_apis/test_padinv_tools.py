"""PadInv inversion tools on a tiny checkpoint (light encoder, 16-px StyleGAN2, a few train steps): invert a folder
(.npz + reconstruction per image, decodable back), face blending, customised editing from one pair, the three tool
scripts, refusals of wrong sizes / channels / foreign .npz files naming the argument."""

import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper, OptimWrapperDict

from gen3d.apis.gan_inference import to_uint8
from gen3d.apis.padinv import blend, customised_edit, invert, load_inversion
from gen3d.models.editing import file_sha256
from gen3d.models.editing.padinv import PadInv, load_padinv_checkpoint
from tests.conftest import run_tool_main
from tests.helpers.gan import make_tiny_gan_checkpoint
from tests.helpers.gan_data import write_image_folder

ENCODER = dict(backbone="light", backbone_cfg=dict(widths=(8, 16, 16)), fpn_channels=16, padding_level=2)
LOSS = dict(lpips_weight=0.0, id_weight=0.0)


def _padinv_checkpoint(gan, path, use_padding=True, steps=2):
    torch.manual_seed(0)
    model = PadInv(generator_ckpt=gan, use_padding=use_padding, encoder=ENCODER, loss=LOSS)
    optim = OptimWrapperDict(encoder=OptimWrapper(torch.optim.Adam(model.encoder.parameters(), lr=1e-3)))
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        model.train_step({"inputs": torch.randint(0, 256, (2, 3, 16, 16), generator=g, dtype=torch.uint8),
                          "data_samples": None}, optim)
    cfg = Config(dict(default_scope="gen3d", model=dict(type="PadInv", generator_ckpt=gan, use_padding=use_padding,
                                                        encoder=ENCODER, loss=LOSS)))
    torch.save({"state_dict": model.state_dict(), "meta": {"cfg": cfg.pretty_text, "model_type": "PadInv"}}, path)
    return str(path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("padinv_tools")
    gan = str(make_tiny_gan_checkpoint(root / "gan.pth"))
    ckpt = _padinv_checkpoint(gan, root / "padinv.pth")
    images = write_image_folder(root / "images", num=3, size=16)
    return {"root": root, "gan": gan, "ckpt": ckpt, "images": images,
            "model": load_padinv_checkpoint(ckpt), "paths": sorted(str(p) for p in images.glob("*.png"))}


def _read(path):
    return torch.from_numpy(cv2.imread(str(path))[:, :, ::-1].copy()).permute(2, 0, 1).float() / 127.5 - 1


def test_invert_a_folder_writes_decodable_npz_and_reconstructions(setup, tmp_path):
    model = setup["model"]
    res = invert(setup["ckpt"], str(setup["images"]), str(tmp_path))
    x = torch.stack([_read(p) for p in setup["paths"]])
    with torch.no_grad():
        wplus, maps = model.encode(x)
        recon = model.reconstruct(x)
    assert res.names == ["img_000", "img_001", "img_002"] and res.wplus.shape == (3, 6, 16)
    assert torch.equal(res.wplus, wplus) and set(res.padding) == {"const", 0, 2, 4}
    assert all(torch.equal(res.padding[k], maps[k]) for k in maps) and torch.equal(res.recon, recon)
    w0, p0, meta = load_inversion(str(tmp_path / "img_001.npz"), file_sha256(setup["ckpt"]))
    assert torch.equal(w0, wplus[1]) and all(torch.equal(p0[k], maps[k][1]) for k in maps)
    assert meta["image"] == "img_001.png" and meta["checkpoint_sha256"] == file_sha256(setup["ckpt"])
    assert (meta["image_height"], meta["image_width"], meta["num_ws"], meta["padding_size"]) == (16, 16, 6, 18)
    with torch.no_grad():  # the saved codes decode to the written reconstruction
        again = model.pool(model.decode(w0[None], {k: v[None] for k, v in p0.items()}))
    png = cv2.imread(str(tmp_path / "img_001_recon.png"))[:, :, ::-1]
    assert np.array_equal(png, to_uint8(again.clamp(-1, 1))[0].permute(1, 2, 0).numpy())
    with np.load(tmp_path / "img_001.npz", allow_pickle=False) as data:  # plain arrays, no pickles
        assert set(data.files) == {"wplus", "meta", "padding_const", "padding_0", "padding_2", "padding_4"}
        assert json.loads(str(data["meta"]))["format"] == "gen3d-padinv-inversion-v1"


def test_wrong_images_are_refused_naming_the_argument(setup, tmp_path):
    big = write_image_folder(tmp_path / "big", num=1, size=24)
    with pytest.raises(ValueError, match=r"images: .*img_000.png' is 24 x 24 px, the model takes 16 x 16"):
        invert(setup["ckpt"], str(big))
    assert invert(setup["ckpt"], str(big), resize=True).wplus.shape == (1, 6, 16)
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((16, 16), 90, np.uint8))
    with pytest.raises(ValueError, match="images: .*grey.png' has 1 channels, the model takes 3"):
        invert(setup["ckpt"], [str(grey)])
    assert invert(setup["ckpt"], [str(grey)], convert=True).recon.shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"image_wplus: .*is 24 x 24 px"):
        blend(setup["ckpt"], setup["paths"][:1], str(big))
    with pytest.raises(ValueError, match=r"targets must be \(N, 3, 16, 16\)"):
        customised_edit(setup["ckpt"], (setup["paths"][0], setup["paths"][1]), torch.zeros(1, 3, 8, 8))
    with pytest.raises(FileNotFoundError, match="images: image '/none.png' not found"):
        invert(setup["ckpt"], ["/none.png"])
    np.savez(tmp_path / "bare.npz", wplus=np.zeros((6, 16), np.float32))  # no meta: not ours
    with pytest.raises(ValueError, match="bare.npz' is not an inversion file"):
        load_inversion(str(tmp_path / "bare.npz"))
    np.savez(tmp_path / "obj.npz", wplus=np.array([{"a": 1}], dtype=object), meta=np.array("{}"))  # a pickle
    with pytest.raises(ValueError, match="obj.npz' is not an inversion file"):
        blend(setup["ckpt"], [str(tmp_path / "obj.npz")], setup["paths"][:1])


def test_blend_takes_padding_from_one_image_and_wplus_from_another(setup, tmp_path):
    model, (a, b, c) = setup["model"], setup["paths"]
    out = blend(setup["ckpt"], [a, b], [c], str(tmp_path))
    assert out["images"].shape == (2, 1, 3, 16, 16) and out["padding_names"] == ["img_000", "img_001"]
    x = torch.stack([_read(p) for p in (a, b, c)])
    with torch.no_grad():
        w, maps = model.encode(x)
        want = model.pool(model.decode(w[2:3].repeat(2, 1, 1), {k: v[:2] for k, v in maps.items()}))
        recon_c = model.reconstruct(x[2:3])
    assert torch.allclose(out["images"][:, 0], want, atol=1e-5)
    assert not torch.allclose(out["images"][0, 0], recon_c[0], atol=1e-3)  # the padding of a changes c
    assert (tmp_path / "blend_img_000__img_002.png").is_file() and cv2.imread(str(tmp_path / "blend_grid.png")).shape \
        == (32, 32, 3)
    inv = invert(setup["ckpt"], [a, b, c], str(tmp_path / "inv"))  # .npz files instead of images: the same
    npz = [f for f in inv.files if f.endswith(".npz")]
    assert torch.allclose(blend(setup["ckpt"], npz[:2], npz[2:])["images"], out["images"], atol=1e-5)
    other = _padinv_checkpoint(setup["gan"], tmp_path / "other.pth", steps=1)
    with pytest.raises(ValueError, match="image_padding: .*inverted with another checkpoint"):
        blend(other, npz[:1], [c])
    wplus_only = _padinv_checkpoint(setup["gan"], tmp_path / "wplus.pth", use_padding=False, steps=0)
    with pytest.raises(ValueError, match="W\\+-only encoder"):
        blend(wplus_only, [a], [c])


def test_customised_edit_adds_the_pairs_wplus_difference(setup, tmp_path):
    model, (a, b, c) = setup["model"], setup["paths"]
    out = customised_edit(setup["ckpt"], (a, b), [c, a], str(tmp_path), strength=0.5)
    x = torch.stack([_read(p) for p in (a, b, c)])
    with torch.no_grad():
        w, maps = model.encode(x)
        delta = w[1] - w[0]
        targets = {k: v[[2, 0]] for k, v in maps.items()}
        want = model.pool(model.decode(w[[2, 0]] + 0.5 * delta, targets))  # the targets keep their own padding
        both = model.pool(model.decode(w[[2, 0]] + delta, {k: v + (maps[k][1] - maps[k][0]) for k, v in
                                                           targets.items()}))
    # pair and targets are encoded in other batches here and there: float noise only
    assert torch.allclose(out["delta_wplus"], delta, atol=1e-5) and torch.allclose(out["edited"], want, atol=1e-5)
    assert out["names"] == ["img_002", "img_000"] and (tmp_path / "img_002_edited.png").is_file()
    full = customised_edit(setup["ckpt"], (a, b), [c, a], transfer="both")["edited"]
    assert torch.allclose(full, both, atol=1e-5) and not torch.allclose(full, want, atol=1e-3)
    same = customised_edit(setup["ckpt"], (a, a), [c])  # an unedited pair changes nothing
    assert torch.allclose(same["edited"], same["recon"], atol=1e-6)
    with pytest.raises(ValueError, match="transfer must be one of"):
        customised_edit(setup["ckpt"], (a, b), [c], transfer="style")
    with pytest.raises(ValueError, match="pair must be one source and one edited image"):
        customised_edit(setup["ckpt"], ([a, b], b), [c])


def test_the_three_tools(setup, tmp_path):
    ckpt, images, (a, b, c) = setup["ckpt"], str(setup["images"]), setup["paths"]
    out = run_tool_main("editing/padinv_invert.py", ckpt, images, "--out-dir", str(tmp_path / "inv"), "--no-progress")
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "inv").iterdir()) == [
        f"img_00{i}{s}" for i in range(3) for s in (".npz", "_recon.png")]
    npz = [str(tmp_path / "inv" / f"img_00{i}.npz") for i in range(3)]
    out = run_tool_main("editing/padinv_blend.py", ckpt, "--padding", npz[0], "--wplus", *npz[1:], "--out-dir",
                        str(tmp_path / "blend"))
    assert out.returncode == 0 and "1 padding x 2 W+ sources" in out.stdout, out.stderr[-2000:]
    assert (tmp_path / "blend" / "blend_img_000__img_002.png").is_file()
    out = run_tool_main("editing/padinv_edit.py", ckpt, "--source", a, "--edited", b, "--targets", images,
                        "--out-dir", str(tmp_path / "edit"), "--strength", "2")
    assert out.returncode == 0 and "3 targets edited" in out.stdout, out.stderr[-2000:]
    assert len(list((tmp_path / "edit").glob("*_edited.png"))) == 3
    out = run_tool_main("editing/padinv_invert.py", ckpt, str(tmp_path / "missing"), "--out-dir", str(tmp_path))
    assert out.returncode == 1 and "error: images: image" in out.stderr
    out = run_tool_main("editing/padinv_blend.py", ckpt, "--padding", npz[0], a, "--wplus", c)
    assert out.returncode == 1 and "either .npz inversion files or images" in out.stderr
