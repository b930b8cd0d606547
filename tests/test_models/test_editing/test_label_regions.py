"""ReSeFa regions from label maps and per-sample region functions (gen3d.models.editing.label_regions), and the
per-sample masks flowing into ReSeFa's M_R / M_B."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import gen3d.models.editing.label_regions  # noqa: F401 - registers nothing; imported directly before wiring
from gen3d.models.editing.label_regions import (
    describe_region_fn,
    label_mask,
    label_region_fn,
    load_label_map,
    mask_at,
    parse_labels,
    read_class_names,
    sample_masks,
    segmentor_region_fn,
)
from gen3d.models.editing.resefa import (
    region_matrices,
    require_w_generator,
    resefa_directions,
    resefa_from_fn,
    sample_w,
    solve_directions,
)
from gen3d.registry import MODELS
from tests.test_models.test_editing import LinearImage, tiny_generator

pytestmark = pytest.mark.usefixtures("one_thread")


def parts(size=16):
    """0 background, 1 face, 3 eyes band, 5 mouth."""
    ids = np.zeros((size, size), np.int64)
    ids[2:14, 3:13] = 1
    ids[5:7, 4:12] = 3
    ids[10:12, 6:10] = 5
    return ids


def test_label_map_files_png_palette_and_npy(tmp_path):
    ids = parts().astype(np.uint8)
    Image.fromarray(ids).save(tmp_path / "grey.png")
    pal = Image.fromarray(ids, mode="P")
    pal.putpalette([0, 0, 0, 200, 150, 120, 0, 0, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0] + [0] * (250 * 3))
    pal.save(tmp_path / "pal.png")
    np.save(tmp_path / "ids.npy", parts())
    for name in ("grey.png", "pal.png", "ids.npy"):
        assert np.array_equal(load_label_map(str(tmp_path / name)), parts()), name  # ids, never colours
    np.save(tmp_path / "f.npy", parts().astype(np.float32))
    with pytest.raises(ValueError, match="integer array of class ids"):
        load_label_map(str(tmp_path / "f.npy"))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain array"):
        load_label_map(str(tmp_path / "obj.npy"))
    with pytest.raises(FileNotFoundError, match="label map"):
        load_label_map(str(tmp_path / "missing.png"))


def test_class_names_and_label_parsing(tmp_path):
    (tmp_path / "c.txt").write_text("background\nface\n\nhair\neyes\nnose\nmouth\n")
    (tmp_path / "c.json").write_text(json.dumps({"classes": ["background", "face", "hair", "eyes", "nose", "mouth"],
                                                 "palette": [[0, 0, 0]] * 6}))
    names = read_class_names(str(tmp_path / "c.txt"))
    assert names == read_class_names(str(tmp_path / "c.json")) and names[3] == "eyes"
    assert parse_labels("3,5") == [3, 5] and parse_labels([5, 3, 5]) == [5, 3] and parse_labels(3) == [3]
    assert parse_labels("eyes, mouth", names) == [3, 5] and parse_labels(["eyes", 1], names) == [3, 1]
    with pytest.raises(ValueError, match="region_labels: 'eyes' is not a label id; give class names"):
        parse_labels("eyes")
    with pytest.raises(ValueError, match="region_labels: 'ears' is not a class name"):
        parse_labels("ears", names)
    (tmp_path / "bad.json").write_text(json.dumps({"names": 3}))
    with pytest.raises(ValueError, match="class_names .*bad.json"):
        read_class_names(str(tmp_path / "bad.json"))


def test_label_mask_and_its_refusals():
    mask = label_mask(parts(), [3, 5], 16)
    assert mask.dtype == torch.bool and int(mask.sum()) == 16 + 8 and mask[5, 4] and mask[10, 6] and not mask[3, 3]
    assert int(label_mask(parts(32 // 2), [3], 8).sum()) == 4  # nearest down-sampling to the Jacobian resolution
    with pytest.raises(ValueError, match=r"region_labels: label\(s\) \[7\] absent .*ids present: \[0, 1, 3, 5\]"):
        label_mask(parts(), [3, 7], 16)
    tiny = np.zeros((64, 64), np.int64)
    tiny[1, 1] = 2  # one pixel in 64 x 64: nothing left at 16 px
    with pytest.raises(ValueError, match=r"region_labels: the region is empty \(1 of 4096 pixels in the 64x64 .*"
                                         r"0 of 256 at the 16x16 Jacobian resolution"):
        label_mask(tiny, [2], 16)
    with pytest.raises(ValueError, match=r"region_labels: the region covers the whole image .*256 of 256.*M_B"):
        label_mask(parts(), [0, 1, 3, 5], 16)
    with pytest.raises(ValueError, match="must be a 2-D boolean mask"):
        mask_at(np.zeros((4, 4), np.uint8), 4)


def test_per_sample_masks_enter_each_sample_s_matrices():
    """Two samples with different regions: M_R / M_B are each sample's own, |R_s|-normalised, then averaged."""
    rng = np.random.RandomState(0)
    jac = rng.randn(2 * 6 * 6, 4)
    fn = LinearImage(jac * np.linspace(0.5, 2, 2 * 36)[:, None], (2, 6, 6))  # a non-uniform Jacobian
    ws = torch.randn(2, 4, dtype=torch.float64)
    masks = torch.zeros(2, 6, 6, dtype=torch.bool)
    masks[0, :2], masks[1, 3:, 3:] = True, True
    got = resefa_from_fn(fn, ws, masks)
    j = torch.as_tensor(fn.jac).reshape(2, 6, 6, 4)
    mats = [region_matrices(j, m) for m in masks]
    m_r, m_b = np.mean([m[0] for m in mats], 0), np.mean([m[1] for m in mats], 0)
    assert np.allclose(got.m_r, m_r) and np.allclose(got.m_b, m_b)
    assert np.allclose(got.directions, solve_directions(m_r, m_b)[1])
    assert np.array_equal(got.masks, masks.numpy())
    shared = resefa_from_fn(fn, ws, masks[0])  # one mask for both samples: another answer
    assert not np.allclose(shared.m_r, got.m_r) and np.array_equal(shared.masks[1], masks[0].numpy())
    with pytest.raises(ValueError, match=r"mask must be \(H, W\) or \(S, H, W\) with S = 2"):
        resefa_from_fn(fn, ws, masks[:1].expand(3, 6, 6))


def test_region_fn_follows_each_generated_sample():
    gen = tiny_generator()
    seen = []

    def brightest_quarter(image):  # a toy per-sample "segmentor": the sample's own brightest pixels
        seen.append(image.shape)
        grey = image[0].mean(0)
        return grey > grey.flatten().quantile(0.75)

    res = resefa_directions(gen, None, num_samples=3, region_fn=brightest_quarter)
    assert seen == [(1, 3, 16, 16)] * 3 and res.masks.shape == (3, 16, 16)
    ws = sample_w(gen, 3)
    with torch.no_grad():
        imgs = gen.synthesis(ws[:, None].expand(-1, gen.num_ws, -1), noise_mode="const")
    for i in range(3):
        assert np.array_equal(res.masks[i], brightest_quarter(imgs[i:i + 1]).numpy())
    assert not np.array_equal(res.masks[0], res.masks[1])  # the region moved with the sample
    fixed = resefa_directions(gen, torch.from_numpy(res.masks[0]), num_samples=3)
    assert not np.allclose(fixed.m_r, res.m_r)
    same = resefa_directions(gen, None, num_samples=3, region_fn=lambda img: torch.from_numpy(res.masks[0]))
    assert np.allclose(same.directions, fixed.directions)
    with pytest.raises(ValueError, match="exactly one of region"):
        resefa_directions(gen, "eyes", region_fn=brightest_quarter)
    with pytest.raises(ValueError, match=r"region_fn \(sample 0\): the region is empty"):
        resefa_directions(gen, None, num_samples=1, region_fn=lambda img: torch.zeros(16, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"region_fn \(sample 0\): must return a torch bool tensor"):
        resefa_directions(gen, None, num_samples=1, region_fn=lambda img: np.ones((16, 16), bool))


class ToySegmentor(nn.Module):
    """``inference``: class 1 where the grey value of the 0-255 image exceeds 127.5, else 0."""

    def __init__(self):
        super().__init__()
        self.data_preprocessor = nn.Module()
        self.data_preprocessor.register_buffer("mean", torch.zeros(3, 1, 1))
        self.data_preprocessor.register_buffer("std", torch.ones(3, 1, 1))

    def inference(self, x):
        bright = (x.mean(1, keepdim=True) > 127.5).float()
        return torch.cat([1 - bright, bright], 1)


def test_segmentor_region_fn_and_descriptions():
    fn = segmentor_region_fn(ToySegmentor(), [1])
    img = torch.full((1, 1, 4, 4), -1.0)
    img[..., :2] = 0.5
    assert fn(img).tolist() == [[True, True, False, False]] * 4
    assert describe_region_fn(fn) == "ToySegmentor labels [1]" and fn.labels == [1]
    masks = sample_masks(fn, torch.cat([img, img.flip(-1)]), 2)
    assert masks.tolist() == [[[True, False]] * 2, [[False, True]] * 2]
    assert describe_region_fn(label_region_fn(lambda i: i[0, 0].long(), [0], "mine")) == "mine"

    def named(image):
        return image[0, 0] > 0

    assert describe_region_fn(named).endswith("named")


def test_generators_without_w_are_refused():
    big = MODELS.build(dict(type="BigGANGenerator", resolution=16, z_dim=12, c_dim=3, shared_dim=8, ch=4))
    with pytest.raises(TypeError, match=r"^checkpoint g.pth: its generator BigGANGenerator exposes no w space"):
        require_w_generator(big, "checkpoint g.pth")
    with pytest.raises(TypeError, match="StyleGAN2-style generator"):
        resefa_directions(big, "eyes")
    assert require_w_generator(tiny_generator()) is not None
