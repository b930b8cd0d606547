"""Checkpoints written before the GAN spine and the stylegan2/ folder existed still load: same keys, same shapes."""

from pathlib import Path

import torch
from mmengine.config import Config

import gen3d.models  # noqa: F401 - registers the GAN modules
from gen3d.registry import MODELS
from tests.helpers.gan import TINY_GAN_CFG, make_tiny_gan_checkpoint

#: ``<variant> <key> <shape>`` of the tiny StyleGAN2 of tests/helpers/gan.py, recorded with the code before the move
#: (commit 2e3a86c): conditional (c_dim 3) and with DynamicD (``discriminator.module.*``).
KEYS_FILE = Path(__file__).parents[3] / "data" / "stylegan2_tiny_state_dict_keys.txt"
DYNAMIC_D = dict(start_ratio=0.5, end_ratio=1.0, total_img=100)


def _build(c_dim: int, dynamic_d: dict | None = None):
    cfg = Config.fromstring(TINY_GAN_CFG.format(c_dim=c_dim, channels=3), file_format=".py").model.to_dict()
    if dynamic_d:
        cfg["dynamic_d"] = dynamic_d
    return MODELS.build(cfg)


def _recorded() -> dict[str, dict[str, tuple[int, ...]]]:
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    for line in KEYS_FILE.read_text().splitlines():
        variant, key, shape = line.split(" ", 2)
        out.setdefault(variant, {})[key] = tuple(int(s) for s in shape.strip("(,)").split(",") if s.strip())
    return out


def test_state_dict_keys_and_shapes_are_unchanged():
    recorded = _recorded()
    assert len(recorded["conditional"]) == 139 and len(recorded["dynamicd"]) == 117
    for variant, model in (("conditional", _build(3)), ("dynamicd", _build(0, DYNAMIC_D))):
        now = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert now == recorded[variant], f"{variant}: keys {sorted(set(now) ^ set(recorded[variant]))} changed"


def test_a_checkpoint_in_the_old_format_loads_through_init_model(tmp_path):
    from gen3d.apis.gan_inference import load_generator
    from gen3d.apis.inference import init_model

    ckpt = make_tiny_gan_checkpoint(tmp_path / "old.pth", c_dim=3)
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    model = init_model(str(ckpt))
    assert type(model).__name__ == "StyleGAN2"
    for k, v in model.state_dict().items():
        assert torch.equal(v.cpu(), saved[k]), k
    gen = load_generator(str(ckpt))
    assert (gen.z_dim, gen.c_dim, gen.pose_dim, gen.img_resolution, gen.img_channels) == (16, 3, 0, 16, 3)
