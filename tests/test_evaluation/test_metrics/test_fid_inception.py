"""FID Inception-v3: checkpoint layout, graph vs torchvision, FID-specific pooling, weights loading and errors."""

import pickle

import pytest
import torch
import torch.nn.functional as F
import torchvision

from gen3d.evaluation.metrics.fid_inception import FID_INCEPTION_URL, FIDInceptionV3, load_fid_inception_state

# Layout of pt_inception-2015-12-05-6726825d.pth: torchvision Inception3(num_classes=1008, aux_logits=False)
# (mseitzer/pytorch-fid src/pytorch_fid/inception.py, fid_inception_v3): 94 conv+BN units, 5 tensors each, + fc.
REFERENCE_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}
NUM_REFERENCE_KEYS = 94 * 5 + 2  # without num_batches_tracked


class _NotATensor:
    pass


def _random_state(net: FIDInceptionV3, seed: int = 0) -> dict[str, torch.Tensor]:
    """A checkpoint in the reference layout: random BN statistics, fc added, no num_batches_tracked."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        if k.endswith(("running_var", "bn.weight")):
            v = torch.rand(v.shape, generator=g) + 0.5
        elif k.endswith(("running_mean", "bn.bias")):
            v = torch.randn(v.shape, generator=g) * 0.1
        state[k] = v.clone()
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    return state


@pytest.fixture(scope="module")
def net() -> FIDInceptionV3:
    torch.manual_seed(0)
    model = FIDInceptionV3(resize_input=False)
    model.load_fid_weights(_random_state(model))
    return model


def test_state_dict_matches_reference_layout(net):
    state = _random_state(net)
    assert len(state) == NUM_REFERENCE_KEYS
    for key, shape in REFERENCE_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("fc.") for k in net.state_dict())  # the 1008-class classifier is not built


def test_graph_equals_torchvision_with_its_pooling_and_differs_with_fid_pooling(net):
    tv_pool = FIDInceptionV3(resize_input=False, tv_pooling=True)
    tv_pool.load_state_dict(net.state_dict())
    ref = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    ref.load_state_dict(_random_state(net), strict=False)
    ref.fc = torch.nn.Identity()
    ref.eval()
    x = torch.randint(0, 256, (2, 3, 96, 96), dtype=torch.uint8)
    with torch.no_grad():
        expected = ref(x.float() / 127.5 - 1)
        torch.testing.assert_close(tv_pool(x), expected, rtol=1e-4, atol=1e-5)
        assert (net(x) - expected).abs().max() > 1e-3  # count_include_pad=False / max pooling change the output


def test_input_is_resized_to_299_bilinear_and_scaled_to_unit_range_grey_repeated(net):
    full = FIDInceptionV3()
    seen = []

    def stop(module, args):
        seen.append(args[0])
        raise StopIteration  # the input is all this test needs: skip the slow 299x299 forward

    full.Conv2d_1a_3x3.register_forward_pre_hook(stop)
    grey = torch.randint(0, 256, (2, 1, 32, 32), dtype=torch.uint8)
    with pytest.raises(StopIteration):
        full(grey)
    expected = F.interpolate(grey.float().expand(-1, 3, -1, -1) / 255, size=(299, 299), mode="bilinear") * 2 - 1
    torch.testing.assert_close(seen[0], expected)


def test_features_are_2048_d(net):
    with torch.no_grad():
        feats = net(torch.randint(0, 256, (3, 3, 75, 75), dtype=torch.uint8))
    assert feats.shape == (3, 2048) and feats.dtype == torch.float32 and torch.isfinite(feats).all()


def test_frozen_and_always_in_eval(net):
    assert not any(p.requires_grad for p in net.parameters())
    assert not net.train().training


def test_loads_local_file_weights_only(net, tmp_path):
    path = tmp_path / "pt_inception.pth"
    torch.save(_random_state(net), path)
    loaded = FIDInceptionV3(weights=str(path), resize_input=False)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, msg=key)
    bad = tmp_path / "pickle.pth"
    torch.save({"x": _NotATensor()}, bad)
    with pytest.raises(pickle.UnpicklingError):
        load_fid_inception_state(str(bad))


def test_key_and_shape_check_name_the_offending_keys(net):
    state = _random_state(net)
    del state["Mixed_6b.branch1x1.conv.weight"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(KeyError, match=r"1 missing keys \['Mixed_6b.branch1x1.conv.weight'\].*'extra.weight'"):
        FIDInceptionV3(resize_input=False).load_fid_weights(state)
    state = _random_state(net)
    state["Conv2d_1a_3x3.conv.weight"] = torch.zeros(32, 3, 5, 5)
    with pytest.raises(ValueError, match="Conv2d_1a_3x3.conv.weight"):
        FIDInceptionV3(resize_input=False).load_fid_weights(state)


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="inception_weights='download'") as err:
        FIDInceptionV3(weights=str(tmp_path / "absent.pth"))
    assert FID_INCEPTION_URL in str(err.value) and "absent.pth" in str(err.value)
