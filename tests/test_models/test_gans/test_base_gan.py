"""The GAN spine on a toy GAN with three optimizers: phases by name, lazy intervals, EMA and images seen."""

import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

import gen3d.models  # noqa: F401 - registers the GAN modules
from gen3d.models.gans.base_gan import BaseGAN
from gen3d.registry import MODELS
from tests.helpers.gan import ToyThreeOptimGAN

B = 2


def _model(**kwargs) -> ToyThreeOptimGAN:
    torch.manual_seed(0)
    return MODELS.build(dict(type="ToyThreeOptimGAN", generator=dict(type="ToyDepthGenerator", z_dim=8),
                             refiner=dict(type="ToyRefiner"), discriminator=dict(type="ToyDiscriminator"),
                             ema_kimg=0.01, **kwargs))


def _optim(model) -> OptimWrapperDict:
    return OptimWrapperDict(**{n: OptimWrapper(torch.optim.SGD(getattr(model, n).parameters(), lr=0.1))
                               for n in ("generator", "refiner", "discriminator")})


def _batch() -> dict:
    return {"inputs": torch.randint(0, 256, (B, 3, 16, 16), dtype=torch.uint8), "data_samples": None}


def _snapshot(model) -> dict[str, list[torch.Tensor]]:
    return {n: [p.detach().clone() for p in getattr(model, n).parameters()]
            for n in ("generator", "refiner", "discriminator", "generator_ema")}


def _moved(before, model, name) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before[name], getattr(model, name).parameters()))


def test_three_named_optimizers_and_lazy_phases():
    model = _model(refine_interval=2, r1_interval=2)
    optim = _optim(model)
    before = _snapshot(model)
    log = model.train_step(_batch(), optim)  # iteration 0: every phase, lazy ones included
    assert {"loss_g", "loss_refiner", "loss_d", "loss_r1", "seen_kimg"} <= set(log)
    assert all(_moved(before, model, n) for n in ("generator", "refiner", "discriminator", "generator_ema"))
    before = _snapshot(model)
    log = model.train_step(_batch(), optim)  # iteration 1: the lazy refiner and R1 phases skip
    assert "loss_refiner" not in log and "loss_r1" not in log
    assert _moved(before, model, "generator") and _moved(before, model, "discriminator")
    assert not _moved(before, model, "refiner")
    assert int(model.seen_img) == 2 * B and int(model.train_iter) == 2
    assert all(p.requires_grad for p in model.parameters() if not any(
        p is q for q in model.generator_ema.parameters()))
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())  # every step zeroed its grads


def test_toggle_and_zero_grad_by_name():
    model = _model()
    optim = _optim(model)
    model.toggle(optim, "refiner")
    assert [all(p.requires_grad for p in getattr(model, n).parameters())
            for n in ("generator", "refiner", "discriminator")] == [False, True, False]
    model.refiner.conv.weight.grad = torch.ones_like(model.refiner.conv.weight)
    model.zero_grad_optimizer(optim, "refiner")
    assert model.refiner.conv.weight.grad is None or not model.refiner.conv.weight.grad.any()
    assert model.lazy(4)
    model.train_iter += 1
    assert not model.lazy(4) and model.lazy(1)


def test_spine_sampling_and_validation_use_the_generator_interface():
    model = _model().eval()
    assert (model.z_dim, model.c_dim, model.pose_dim) == (8, 0, 0)
    assert model.sample_pose(3) is None and model.sample_labels(None, 3) is None
    out = model(torch.randn(2, 8))
    assert list(out) == ["image", "depth"]  # the model returns the generator's whole output
    data = {"inputs": torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8),
            "data_samples": [{"sample_idx": i} for i in range(3)]}
    first = model.val_step(data)
    assert len(first) == 3 and first[0]["fake_img"].dtype == torch.uint8 and first[0]["fake_img"].shape == (3, 16, 16)
    assert torch.equal(first[1]["fake_img"], model.val_step(data)[1]["fake_img"])  # latent fixed by the index


def test_base_requires_phases_and_a_known_loss():
    with pytest.raises(NotImplementedError, match="phases"):
        BaseGAN(dict(type="ToyDepthGenerator"), dict(type="ToyDiscriminator")).train_step({}, OptimWrapperDict())
    with pytest.raises(ValueError, match="adversarial_loss"):
        _model(adversarial_loss="wasserstein")
    hinge = _model(adversarial_loss="hinge")
    assert hinge.d_adv_loss(torch.full((2, 1), 2.0), torch.full((2, 1), -2.0)).item() == 0.0


def test_dynamic_d_is_a_key_of_any_spine_gan():
    """DynamicD wraps any discriminator built of gen3d's equalized layers, for any GAN on the spine."""
    torch.manual_seed(0)
    model = MODELS.build(dict(type="ToyThreeOptimGAN", generator=dict(type="ToyDepthGenerator", z_dim=8),
                              refiner=dict(type="ToyRefiner"), ema_kimg=0.01,
                              discriminator=dict(type="StyleGAN2Discriminator", resolution=16, channel_base=64,
                                                 channel_max=8, mbstd_group_size=2),
                              dynamic_d=dict(start_ratio=0.5, end_ratio=1.0, total_img=4 * B)))
    log = model.train_step(_batch(), _optim(model))
    log = model.train_step(_batch(), _optim(model))
    assert log["ratio"].item() == pytest.approx(0.625)  # set before the 2nd iteration: 1 of 4 batches seen


def test_a_3d_aware_generator_gets_seeded_poses_everywhere(tmp_path):
    """Validation, sampling and export draw poses from the generator's sample_pose, reproducibly."""
    from gen3d.deploy.gan_wrapper import GeneratorEnd2End, example_feeds
    from gen3d.models.gans.sampling import generate, seed_latents, seed_poses

    torch.manual_seed(0)
    model = MODELS.build(dict(type="ToyThreeOptimGAN", generator=dict(type="ToyDepthGenerator", z_dim=8, pose_dim=2),
                              refiner=dict(type="ToyRefiner"), discriminator=dict(type="ToyDiscriminator")))
    assert model.pose_dim == 2 and model.sample_pose(3).shape == (3, 2)
    assert "loss_g" in model.train_step(_batch(), _optim(model))  # the phases draw poses with sample_pose
    data = {"inputs": torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8),
            "data_samples": [{"sample_idx": i} for i in range(2)]}
    model.eval()
    a, b = model.val_step(data), model.val_step(data)
    assert all(torch.equal(x["fake_img"], y["fake_img"]) for x, y in zip(a, b))
    poses = model.sample_val_poses([0, 1, 0])
    assert torch.equal(poses[0], poses[2]) and not torch.equal(poses[0], poses[1])
    gen = model.generator_ema
    assert torch.equal(seed_poses(gen, [3, 4]), seed_poses(gen, [3, 4])) and seed_poses(gen, [3]).shape == (1, 2)
    images = generate(gen, seed_latents([3, 4], 8), pose=seed_poses(gen, [3, 4]))
    assert images.shape == (2, 3, 16, 16)
    wrapper = GeneratorEnd2End(gen)
    assert wrapper.input_names == ("z", "pose", "truncation_psi") and example_feeds(gen, 2, 1.0)["pose"].shape == (2, 2)
