"""LPIPS from weights files (random tensors in the official key names, written to tmp files): the lpips lin file +
torchvision file, the combined file, the math against an independent re-implementation, LPIPS(x, x) = 0, symmetry,
clear errors naming the missing file / key, and the registered module in PadInvLoss and ReconstructionMetric."""

import pytest
import torch
from torch.nn import functional as F

from gen3d.models.losses.lpips import LPIPS, SCALE, SHIFT, save_lpips_weights

# torchvision AlexNet features: index -> (out, in, kernel, stride, padding) of its convs; max-pools (3, 2) at 2, 5, 12
ALEX_CONVS = {0: (64, 3, 11, 4, 2), 3: (192, 64, 5, 1, 2), 6: (384, 192, 3, 1, 1), 8: (256, 384, 3, 1, 1),
              10: (256, 256, 3, 1, 1)}
ALEX_TAPS = (1, 4, 7, 9, 11)  # the ReLUs whose outputs LPIPS compares
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
VGG_TAPS = (3, 8, 15, 22, 29)
LIN_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}


def _lin_file(path, net, seed=1):
    g = torch.Generator().manual_seed(seed)
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) * 0.1
                for k, c in enumerate(LIN_CHANNELS[net])}, path)
    return str(path)


def _alex_file(path, seed=2):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i, (o, c, k, _, _) in ALEX_CONVS.items():
        sd[f"features.{i}.weight"] = torch.randn(o, c, k, k, generator=g) / (c * k * k) ** 0.5
        sd[f"features.{i}.bias"] = 0.05 * torch.randn(o, generator=g)
    sd["classifier.1.weight"] = torch.zeros(4, 4)  # a torchvision file's classifier: ignored
    torch.save(sd, path)
    return str(path)


def _vgg_state(seed=3):
    g = torch.Generator().manual_seed(seed)
    sd, i, c = {}, 0, 3
    for v in VGG16_CFG:
        if v == "M":
            i += 1
            continue
        sd[f"features.{i}.weight"] = torch.randn(v, c, 3, 3, generator=g) / (c * 9) ** 0.5
        sd[f"features.{i}.bias"] = 0.05 * torch.randn(v, generator=g)
        c, i = v, i + 2
    return sd


def reference_lpips(tv, lin, x, y, net="alex"):
    """LPIPS v0.1 written out: scale, the torchvision layers, channel-normalise, squared diff, lin, mean, sum."""
    shift, scale = torch.tensor(SHIFT).view(1, 3, 1, 1), torch.tensor(SCALE).view(1, 3, 1, 1)

    def taps(img):
        h, out = (img - shift) / scale, []
        if net == "alex":
            for i in range(12):
                if i in ALEX_CONVS:
                    _, _, _, s, p = ALEX_CONVS[i]
                    h = F.conv2d(h, tv[f"features.{i}.weight"], tv[f"features.{i}.bias"], s, p)
                elif i in (2, 5):
                    h = F.max_pool2d(h, 3, 2)
                else:
                    h = F.relu(h)
                if i in ALEX_TAPS:
                    out.append(h)
            return out
        i = 0
        for v in VGG16_CFG:
            if v == "M":
                h, i = F.max_pool2d(h, 2, 2), i + 1
                continue
            h = F.relu(F.conv2d(h, tv[f"features.{i}.weight"], tv[f"features.{i}.bias"], 1, 1))
            if i + 1 in VGG_TAPS:
                out.append(h)
            i += 2
        return out

    total = 0
    for k, (a, b) in enumerate(zip(taps(x), taps(y))):
        a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total = total + (F.conv2d((a - b) ** 2, lin[f"lin{k}.model.1.weight"])).mean((2, 3))[:, 0]
    return total


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("lpips")
    return _lin_file(root / "alex.pth", "alex"), _alex_file(root / "alexnet-owt.pth")


def _pair(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    return x, (x + 0.3 * torch.randn(n, 3, size, size, generator=g)).clamp(-1, 1)


def test_lin_and_torchvision_files_match_the_reference(files):
    lin_file, tv_file = files
    model = LPIPS(weights=[lin_file, tv_file])
    tv, lin = torch.load(tv_file, weights_only=True), torch.load(lin_file, weights_only=True)
    assert torch.equal(getattr(model.net.slice2, "3").weight, tv["features.3.weight"])
    assert torch.equal(model.lin4.model[1].weight, lin["lin4.model.1.weight"])
    x, y = _pair()
    d = model(x, y)
    assert d.shape == (2,) and (d > 0).all()
    assert torch.allclose(d, reference_lpips(tv, lin, x, y), rtol=1e-5, atol=1e-7)
    assert torch.allclose(model(y, x), d, rtol=1e-6, atol=1e-8)  # symmetric
    assert torch.equal(model(x, x), torch.zeros(2))
    same = LPIPS(weights=lin_file, backbone_weights=tv_file)  # the two-argument form
    assert torch.equal(same(x, y), d)


def test_combined_file_and_lpips_package_naming(files, tmp_path):
    lin_file, tv_file = files
    combined = save_lpips_weights([lin_file, tv_file], str(tmp_path / "lpips_alex.pth"))
    x, y = _pair(seed=1)
    ref = LPIPS(weights=[lin_file, tv_file])(x, y)
    assert torch.equal(LPIPS(weights=combined)(x, y), ref)
    # a full lpips.LPIPS state dict (lpips >= 0.1.4 also has the lins.<k> duplicates and the scaling buffers)
    sd = torch.load(combined, weights_only=True)
    sd.update({k.replace("lin", "lins.", 1): v for k, v in sd.items() if k.startswith("lin")})
    torch.save(sd, tmp_path / "full.pth")
    assert torch.equal(LPIPS(weights=str(tmp_path / "full.pth"))(x, y), ref)
    sd["scaling_layer.scale"] = sd["scaling_layer.scale"] * 2
    torch.save(sd, tmp_path / "bad_scale.pth")
    with pytest.raises(ValueError, match="scaling_layer.scale"):
        LPIPS(weights=str(tmp_path / "bad_scale.pth"))


def test_vgg_matches_the_reference(tmp_path):
    tv = _vgg_state()
    torch.save(tv, tmp_path / "vgg16.pth")
    lin_file = _lin_file(tmp_path / "vgg.pth", "vgg")
    model = LPIPS(weights=[lin_file, str(tmp_path / "vgg16.pth")], net="vgg")
    x, y = _pair(size=32, seed=2)
    ref = reference_lpips(tv, torch.load(lin_file, weights_only=True), x, y, net="vgg")
    assert torch.allclose(model(x, y), ref, rtol=1e-5, atol=1e-7)


def test_gradients_reach_the_images_only(files):
    model = LPIPS(weights=list(files))
    x, y = _pair()
    x.requires_grad_(True)
    model(x, y).sum().backward()
    assert x.grad.abs().sum() > 0 and not any(p.requires_grad for p in model.parameters())


def test_missing_files_and_keys_are_named(files, tmp_path):
    lin_file, tv_file = files
    with pytest.raises(ValueError, match="lpips_weights: LPIPS needs its weights files"):
        LPIPS()
    with pytest.raises(FileNotFoundError, match="lpips_weights='/none/alex.pth'"):
        LPIPS(weights="/none/alex.pth")
    with pytest.raises(ValueError, match="net.slice1.0.weight.*torchvision"):  # the lin file alone
        LPIPS(weights=lin_file)
    with pytest.raises(ValueError, match="lin0.model.1.weight.*weights/v0.1/alex.pth"):  # torchvision alone
        LPIPS(weights=tv_file)
    with pytest.raises(ValueError, match="shape"):  # a VGG lin file for AlexNet
        LPIPS(weights=[_lin_file(tmp_path / "vgg.pth", "vgg"), tv_file])
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "vgg_first.pth")
    with pytest.raises(ValueError, match=r"features.0.weight.*\(64, 3, 3, 3\)"):
        LPIPS(weights=[lin_file, str(tmp_path / "vgg_first.pth")])
    with pytest.raises(ValueError, match="net must be one of"):
        LPIPS(net="squeeze")
    with pytest.raises(ValueError, match="RGB batches"):
        LPIPS(weights=list(files))(torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64))
    assert LPIPS(pretrained=False)(*_pair()).shape == (2,)  # random weights for smoke tests only


def test_registered_lpips_in_the_loss_and_the_metric(files, tmp_path):
    from gen3d.evaluation.metrics.reconstruction import ReconstructionMetric
    from gen3d.models.editing.padinv import PadInvLoss
    from gen3d.registry import MODELS

    combined = save_lpips_weights(list(files), str(tmp_path / "lpips_alex.pth"))
    assert isinstance(MODELS.build(dict(type="LPIPS", weights=combined)), LPIPS)
    x, y = _pair(n=3, seed=4)
    ref = LPIPS(weights=combined)(y, x)
    loss = PadInvLoss(lpips_weights=combined)
    terms = loss(x, y, torch.zeros(3, 2, 4), torch.zeros(4))
    assert loss.enabled["lpips"] == 0.8 and torch.allclose(terms["loss_lpips"], ref.mean())
    metric = ReconstructionMetric(lpips_weights=combined)
    metric.process(None, [{"recon": x[i], "real": y[i]} for i in range(3)])
    assert abs(metric.evaluate(3)["recon/lpips"] - float(ref.mean())) < 1e-6
