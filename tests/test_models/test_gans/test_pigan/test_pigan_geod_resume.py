"""PiGAN + GeoD with a learning source (InverseRendererGeometry): a run saved half-way through ``state_dict`` and
resumed in a fresh model ends with the straight run's renderer, Adam state and freeze counter; old state dicts
(without the source's extra state) still load."""

import io

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner.checkpoint import load_state_dict as mmengine_load_state_dict

from gen3d.models.gans.pigan import PiGAN

N, R = 2, 16
GEN = dict(type="PiGANGenerator", z_dim=8, hidden_dim=16, n_layers=2, mapping_hidden=16, img_resolution=R,
           num_steps=4, avg_samples=64)
DISC = dict(type="PiGANDiscriminator", img_resolution=R, width=0.05, latent_dim=0)
RENDERER = dict(resolution=8, nf=4, zdim=8, light_nf=4, conf_nf=4, conf_zdim=8)
# 2 images a step: the source trains at steps 1-3 (2, 4, 6 images) and is frozen at step 4 (6 > 5 images)
SOURCE = dict(type="InverseRendererGeometry", renderer=RENDERER, freeze_kimg=0.005, lr=1e-2)
GEOD = dict(source=SOURCE, head_channels=4, weight_end=0.1, ramp_kimg=(0.0, 0.004))
EXTRA = "geometry_source._extra_state"


pytestmark = pytest.mark.usefixtures("one_thread")


def _model() -> PiGAN:
    torch.manual_seed(0)
    return PiGAN(generator=GEN, discriminator=DISC, curriculum=[dict(start_iter=0, resolution=8, num_steps=4)],
                 geod=GEOD)


def _optim(model: PiGAN) -> OptimWrapperDict:
    def wrap(m):
        return OptimWrapper(torch.optim.Adam(m.parameters(), 1e-3, betas=(0.0, 0.9)), clip_grad=dict(max_norm=10.0))
    return OptimWrapperDict(generator=wrap(model.generator), discriminator=wrap(model.discriminator))


def _train(model: PiGAN, optim: OptimWrapperDict, steps: range) -> None:
    for i in steps:
        g = torch.Generator().manual_seed(i)
        data = dict(inputs=[torch.randint(0, 256, (3, R, R), dtype=torch.uint8, generator=g) for _ in range(N)],
                    data_samples=[dict(sample_idx=k, pose=torch.tensor([1.5, 1.6])) for k in range(N)])
        torch.manual_seed(100 + i)
        model.train_step(data, optim)


def _round_trip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _assert_adam_equal(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> None:
    a, b = a.state_dict(), b.state_dict()
    assert a["param_groups"] == b["param_groups"] and a["state"].keys() == b["state"].keys() and a["state"]
    for i in a["state"]:
        for k in a["state"][i]:
            assert torch.equal(a["state"][i][k], b["state"][i][k]), (i, k)


def test_resumed_source_ends_with_the_straight_runs_renderer_adam_and_freeze():
    straight = _model()
    _train(straight, _optim(straight), range(4))
    half = _model()
    optim = _optim(half)
    _train(half, optim, range(2))
    saved = _round_trip(dict(state_dict=half.state_dict(), optim=optim.state_dict()))
    assert saved["state_dict"][EXTRA].abs().sum() > 0  # the Adam moments travel in the state dict
    resumed = _model()
    resumed.load_state_dict(saved["state_dict"])  # strict; the source's Adam is built lazily at its next step
    assert resumed.geometry_source._optimizer is None
    optim = _optim(resumed)
    optim.load_state_dict(saved["optim"])
    _train(resumed, optim, range(2, 4))
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for k in a:  # the weights, the buffers (the source's seen_img) and its Adam state as one tensor
        assert torch.equal(a[k], b[k]), f"{k} differs by {(a[k].double() - b[k].double()).abs().max()}"
    src = straight.geometry_source
    assert src.frozen and int(a["geometry_source.seen_img"]) == 6  # frozen for step 4 in both runs
    _assert_adam_equal(src.optimizer, resumed.geometry_source.optimizer)
    # into an optimizer that is built already: loaded at once
    built = _model()
    built.geometry_source.optimizer  # noqa: B018 - builds it
    built.load_state_dict(a)
    _assert_adam_equal(src.optimizer, built.geometry_source.optimizer)


def test_state_dict_without_the_source_extra_state_still_loads():
    model = _model()
    _train(model, _optim(model), range(1))
    old = {k: v for k, v in model.state_dict().items() if k != EXTRA}  # as saved before the extra state existed
    fresh = _model()
    assert fresh.load_state_dict(old, strict=True).missing_keys == []
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in old.items())
    assert fresh.geometry_source.get_extra_state().numel() == 0  # a fresh Adam, as before
    mmengine_load_state_dict(_model(), old, strict=True)  # the runner's path: raises on any missing key
    fresh.geometry_source.step(F.interpolate(torch.rand(N, 3, R, R) * 2 - 1, size=(8, 8)))
    assert fresh.geometry_source.get_extra_state().numel() > 0
