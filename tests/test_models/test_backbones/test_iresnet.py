"""IResNet-50 + SE: a state dict named and shaped after TreB1eN's ``Backbone`` (InsightFace_Pytorch ``model.py``, as
pSp's ``model_ir_se50.pth``) loads strictly, the forward equals a functional re-implementation of that definition,
the stage maps feed the PadInv encoder, bad files are refused naming the key."""

import functools

import pytest
import torch
from torch.nn import functional as F

from gen3d.models.backbones.iresnet import IResNet, load_iresnet_weights

# TreB1eN get_blocks(50): (in_channel, depth, num_units) per stage; the first unit of each stage has stride 2
OFFICIAL_STAGES = {50: [(64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3)],
                   100: [(64, 64, 3), (64, 128, 13), (128, 256, 30), (256, 512, 3)]}


def official_units(depth=50):
    units = []
    for in_c, depth_c, n in OFFICIAL_STAGES[depth]:
        units += [(in_c, depth_c, 2)] + [(depth_c, depth_c, 1)] * (n - 1)
    return units


def official_state_dict(depth=50, input_size=112, seed=0, batches_tracked=True):
    """Random tensors under the key names and shapes of TreB1eN's Backbone(num_layers, mode='ir_se') (a new dict;
    the tensors are shared between calls: do not change them in place)."""
    return dict(_official_state_dict(depth, input_size, seed, batches_tracked))


@functools.lru_cache(maxsize=4)
def _official_state_dict(depth, input_size, seed, batches_tracked):
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def conv(key, out_c, in_c, k):
        sd[key] = torch.randn(out_c, in_c, k, k, generator=g) / (in_c * k * k) ** 0.5

    def bn(key, c, affine=True):
        if affine:
            sd[f"{key}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
            sd[f"{key}.bias"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{key}.running_mean"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{key}.running_var"] = 1 + 0.5 * torch.rand(c, generator=g)
        if batches_tracked:
            sd[f"{key}.num_batches_tracked"] = torch.tensor(7)

    conv("input_layer.0.weight", 64, 3, 3)
    bn("input_layer.1", 64)
    sd["input_layer.2.weight"] = 0.25 + 0.05 * torch.randn(64, generator=g)  # PReLU
    for i, (in_c, d, _) in enumerate(official_units(depth)):
        p = f"body.{i}"
        if in_c != d:
            conv(f"{p}.shortcut_layer.0.weight", d, in_c, 1)
            bn(f"{p}.shortcut_layer.1", d)
        bn(f"{p}.res_layer.0", in_c)
        conv(f"{p}.res_layer.1.weight", d, in_c, 3)
        sd[f"{p}.res_layer.2.weight"] = 0.25 + 0.05 * torch.randn(d, generator=g)
        conv(f"{p}.res_layer.3.weight", d, d, 3)
        bn(f"{p}.res_layer.4", d)
        conv(f"{p}.res_layer.5.fc1.weight", d // 16, d, 1)
        conv(f"{p}.res_layer.5.fc2.weight", d, d // 16, 1)
    bn("output_layer.0", 512)
    side = input_size // 16
    sd["output_layer.3.weight"] = torch.randn(512, 512 * side * side, generator=g) / (512 * side * side) ** 0.5
    sd["output_layer.3.bias"] = 0.1 * torch.randn(512, generator=g)
    bn("output_layer.4", 512)
    return sd


def reference_forward(sd, x, depth=50, embedding=True):
    """TreB1eN's Backbone.forward written out with torch.nn.functional (eval mode)."""
    def bn(t, p):
        return F.batch_norm(t, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd.get(f"{p}.weight"),
                            sd.get(f"{p}.bias"), False, 0.0, 1e-5)

    x = F.prelu(bn(F.conv2d(x, sd["input_layer.0.weight"], padding=1), "input_layer.1"), sd["input_layer.2.weight"])
    stages = []
    for i, (in_c, d, stride) in enumerate(official_units(depth)):
        p = f"body.{i}"
        if in_c == d:
            short = F.max_pool2d(x, 1, stride)
        else:
            short = bn(F.conv2d(x, sd[f"{p}.shortcut_layer.0.weight"], stride=stride), f"{p}.shortcut_layer.1")
        r = F.conv2d(bn(x, f"{p}.res_layer.0"), sd[f"{p}.res_layer.1.weight"], padding=1)
        r = F.conv2d(F.prelu(r, sd[f"{p}.res_layer.2.weight"]), sd[f"{p}.res_layer.3.weight"], stride=stride,
                     padding=1)
        r = bn(r, f"{p}.res_layer.4")
        s = F.relu(F.conv2d(F.adaptive_avg_pool2d(r, 1), sd[f"{p}.res_layer.5.fc1.weight"]))
        x = r * torch.sigmoid(F.conv2d(s, sd[f"{p}.res_layer.5.fc2.weight"])) + short
        if i + 1 == len(official_units(depth)) or official_units(depth)[i + 1][2] == 2:
            stages.append(x)
    if not embedding:
        return stages
    x = F.linear(bn(x, "output_layer.0").flatten(1), sd["output_layer.3.weight"], sd["output_layer.3.bias"])
    x = bn(x, "output_layer.4")
    return x / x.norm(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("arcface") / "model_ir_se50.pth"
    torch.save(official_state_dict(), path)
    return str(path)


def test_official_file_loads_strictly_and_matches_the_reference(official_file):
    model = IResNet(depth=50, se=True, embedding=True, input_size=112, weights=official_file).eval().double()
    sd = {k: v.double() if v.is_floating_point() else v for k, v in official_state_dict().items()}
    assert set(model.state_dict()) == set(sd)  # the official key set, nothing more, nothing less
    assert all(torch.equal(v, sd[k]) for k, v in model.state_dict().items())
    x = torch.rand(2, 3, 112, 112, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        emb = model(x)
        ref = reference_forward(sd, x)
    assert emb.shape == (2, 512) and torch.allclose(emb.norm(dim=1), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(emb, ref, atol=1e-10, rtol=1e-8)


def test_stages_for_the_encoder_and_body_only_loading(official_file):
    model = IResNet(weights=official_file).eval()  # backbone use: output_layer.* of the file skipped
    assert not any(k.startswith("output_layer") for k in model.state_dict())
    assert model.out_channels == [64, 128, 256, 512] and model.strides == [2, 4, 8, 16]
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        maps = model.forward_stages(x)
        ref = reference_forward(official_state_dict(), x, embedding=False)
    assert [tuple(m.shape) for m in maps] == [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2)]
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(maps, ref))
    assert torch.equal(model(x), maps[-1])


def test_padinv_encoder_builds_on_ir_se50(official_file):
    from gen3d.models.editing.padinv import PadInvEncoder

    torch.manual_seed(0)
    enc = PadInvEncoder(num_ws=6, w_dim=8, resolution=32, backbone="ir_se50", backbone_cfg=dict(weights=official_file),
                        fpn_channels=16, use_padding=True, padding_channels={"const": 8, 0: 8}, padding_size=6)
    assert isinstance(enc.backbone, IResNet) and enc.level_sizes == [2, 4, 8]
    assert torch.equal(enc.backbone.input_layer[0].weight, official_state_dict()["input_layer.0.weight"])
    wplus, maps = enc.eval()(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert wplus.shape == (2, 6, 8) and maps["const"].shape == (2, 8, 6, 6) and maps[0].shape == (2, 8, 6, 6)
    grey = PadInvEncoder(num_ws=2, w_dim=4, resolution=32, img_channels=1, backbone="ir_se50", fpn_channels=8,
                         use_padding=False)
    assert grey.backbone.input_layer[0].weight.shape == (64, 1, 3, 3)


def _small_file(sd):
    """The same keys and shapes as views of ONE storage (torch.save writes it once): small files for refusals."""
    base = torch.randn(max(v.numel() for v in sd.values()))
    return {k: base[:v.numel()].view(v.shape) if v.is_floating_point() else v for k, v in sd.items()}


def test_key_map_and_refusals(official_file, tmp_path):
    sd = _small_file(official_state_dict(batches_tracked=False))  # PyTorch < 0.4.1 files: no num_batches_tracked
    torch.save({"module." + k: v for k, v in sd.items()}, tmp_path / "dp.pth")  # DataParallel prefix
    model = IResNet(embedding=True, weights=str(tmp_path / "dp.pth"))
    assert torch.equal(model.body[5].res_layer[1].weight, sd["body.5.res_layer.1.weight"])
    with pytest.raises(FileNotFoundError, match="arcface_weights='/nope.pth'"):
        load_iresnet_weights(IResNet(), "/nope.pth", "arcface_weights")
    broken = _small_file(official_state_dict())
    del broken["body.7.res_layer.5.fc2.weight"]
    torch.save(broken, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="missing key 'body.7.res_layer.5.fc2.weight'"):
        IResNet(embedding=True, weights=str(tmp_path / "missing.pth"))
    broken = _small_file(official_state_dict())
    broken["body.3.res_layer.1.weight"] = broken["body.3.res_layer.1.weight"][:, :, :1, :1].clone()
    torch.save(broken, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match=r"key 'body.3.res_layer.1.weight' has shape \(128, 64, 1, 1\)"):
        IResNet(embedding=True, weights=str(tmp_path / "shape.pth"))
    torch.save({**_small_file(official_state_dict()), "extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match="unexpected key 'extra.weight'"):
        IResNet(embedding=True, weights=str(tmp_path / "extra.pth"))
    with pytest.raises(ValueError, match="input_layer.0.weight"):  # an RGB file into a grey backbone
        IResNet(in_channels=1, weights=official_file)
    torch.save({"net": {"a": 1}}, tmp_path / "pickle.pth")
    with pytest.raises(ValueError, match="state dict of tensors"):
        IResNet(weights=str(tmp_path / "pickle.pth"))
    with pytest.raises(ValueError, match="depth must be one of"):
        IResNet(depth=34)
    with pytest.raises(ValueError, match=r"x must be \(N, 3, H, W\)"):
        IResNet().forward_stages(torch.rand(1, 1, 16, 16))


def test_ir100_layout():
    with torch.device("meta"):
        model = IResNet(depth=100)
    assert len(model.body) == len(official_units(100)) == 49 and model.stage_ends == [3, 16, 46, 49]
    assert [u.res_layer[3].stride[0] for u in model.body] == [s for _, _, s in official_units(100)]
