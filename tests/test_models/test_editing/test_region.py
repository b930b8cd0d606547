import numpy as np
import pytest
import torch

from gen3d.models.editing.region import FFHQ_BOXES, box_to_mask, region_mask, scale_box, validate_box


def official_mask(image_size, coordinate):
    """coordinate.py:get_mask_by_coordinates of zhujiapeng/resefa@973889c, verbatim."""
    mask = np.zeros([image_size, image_size], dtype=np.float32)
    center_x, center_y = coordinate[0], coordinate[1]
    crop_x, crop_y = coordinate[2], coordinate[3]
    xx = center_x - crop_x // 2
    yy = center_y - crop_y // 2
    mask[xx:xx + crop_x, yy:yy + crop_y] = 1.
    return mask


@pytest.mark.parametrize("name", sorted(FFHQ_BOXES))
def test_official_ffhq_boxes_match_the_official_mask(name):
    mask = box_to_mask(FFHQ_BOXES[name], 256)
    assert mask.dtype == torch.bool and mask.shape == (256, 256)
    assert np.array_equal(mask.numpy(), official_mask(256, FFHQ_BOXES[name]) == 1)


def test_eyes_box_rows_and_columns():
    mask = box_to_mask([120, 128, 20, 115], 256)
    rows, cols = torch.nonzero(mask, as_tuple=True)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (110, 129, 71, 185)
    assert int(mask.sum()) == 20 * 115


def test_odd_and_even_sizes_at_generator_resolution():
    assert np.array_equal(box_to_mask([8, 8, 3, 4], 16).numpy(), official_mask(16, [8, 8, 3, 4]) == 1)
    assert torch.nonzero(box_to_mask([8, 8, 3, 4], 16))[:, 0].unique().tolist() == [7, 8, 9]
    assert torch.nonzero(box_to_mask([8, 8, 3, 4], 16))[:, 1].unique().tolist() == [6, 7, 8, 9]


def test_scale_box_from_the_official_frame():
    assert scale_box([120, 128, 20, 115], 256, 256) == (120, 128, 20, 115)
    assert scale_box([120, 128, 20, 116], 256, 512) == (240, 256, 40, 232)
    small = scale_box(FFHQ_BOXES["eyes"], 256, 16)
    mask = box_to_mask(small, 16)
    rows, cols = torch.nonzero(mask, as_tuple=True)
    assert rows.unique().tolist() == [7] and (cols.min(), cols.max()) == (4, 10)
    assert region_mask("eyes", 16).equal(mask)


@pytest.mark.parametrize("box", [[1, 2, 3], [1, 2, 3, 4, 5], "abcd", [8.0, 8, 2, 2], [8, 8, 0, 2], [8, 8, 2, -1],
                                 [0, 8, 2, 2], [8, 15, 2, 4], [8, 1, 2, 4], [16, 8, 2, 2], [True, 8, 2, 2], 7])
def test_bad_boxes_are_refused_naming_the_argument(box):
    with pytest.raises(ValueError, match=r"^box"):
        box_to_mask(box, 16)
    with pytest.raises(ValueError, match=r"^region"):
        region_mask(box, 16)
    with pytest.raises(ValueError, match=r"^target"):
        validate_box(box, 16, name="target")


def test_box_touching_the_border_is_accepted():
    assert int(box_to_mask([1, 1, 2, 2], 16).sum()) == 4
    assert int(box_to_mask([15, 15, 2, 2], 16).sum()) == 4
    with pytest.raises(ValueError, match="resolution"):
        box_to_mask([1, 1, 2, 2], 0)


def test_boolean_masks():
    mask = np.zeros((16, 16), dtype=bool)
    mask[3:5, 2:9] = True
    out = region_mask(mask, 16)
    assert out.dtype == torch.bool and np.array_equal(out.numpy(), mask)
    assert region_mask(torch.from_numpy(mask), 16).equal(out)
    with pytest.raises(ValueError, match="region mask must be boolean"):
        region_mask(mask.astype(np.float32), 16)
    with pytest.raises(ValueError, match=r"region mask must have shape \(8, 8\)"):
        region_mask(mask, 8)
    with pytest.raises(ValueError, match="region and its complement"):
        region_mask(np.zeros((16, 16), dtype=bool), 16)
    with pytest.raises(ValueError, match="region and its complement"):
        region_mask(np.ones((16, 16), dtype=bool), 16)
    with pytest.raises(ValueError, match="region and its complement"):
        region_mask([8, 8, 16, 16], 16)
    with pytest.raises(ValueError, match="region 'ears' is not a known box"):
        region_mask("ears", 16)
