"""Loading for PadInv: the frozen StyleGAN2 of a GAN checkpoint, and a trained PadInv checkpoint.

Both read files as data (``torch.load(weights_only=True)`` through :func:`gen3d.utils.checkpoint.load_local_checkpoint`
and :func:`gen3d.apis.inference.init_model`; saved configs are parsed, never executed).

A PadInv checkpoint holds the frozen generator once (``generator.*``; no EMA copy, no GAN discriminator unless the
adversarial term trained one) and, as the model's extra state, the generator's (and discriminator's) config, so
:func:`load_padinv_checkpoint` rebuilds it exactly without the GAN checkpoint it was trained from.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

GENERATOR_KEY = "generator_ckpt"


def _plain(cfg: Any) -> Any:  # noqa: ANN401 - a config node
    return cfg.to_dict() if hasattr(cfg, "to_dict") else copy.deepcopy(cfg)


def check_stylegan2(generator: nn.Module, source: str) -> None:
    """Refuse a generator without the StyleGAN2 layout PadInv needs (``mapping.w_avg``, ``synthesis``, ``num_ws``).

    Args:
        generator: The candidate.
        source: What to name in the message (``generator_ckpt=<path>``).
    """
    synthesis = getattr(generator, "synthesis", None)
    ok = synthesis is not None and hasattr(synthesis, "block_resolutions") and hasattr(generator, "num_ws")
    ok = ok and isinstance(getattr(getattr(generator, "mapping", None), "w_avg", None), torch.Tensor)
    if not ok:
        raise ValueError(f"{source}: PadInv inverts a StyleGAN2 generator (mapping with w_avg, synthesis, num_ws); "
                         f"this checkpoint's generator is a {type(generator).__name__}")


def load_gan_parts(path: str, discriminator: bool = False) -> dict[str, Any]:
    """The EMA generator of a StyleGAN2 checkpoint (and its discriminator), with their configs.

    Args:
        path: GAN checkpoint written by ``tools/train.py`` (``state_dict`` + ``meta.cfg``).
        discriminator: Also return the GAN's discriminator (official: D starts from the pretrained one).

    Returns:
        ``{'generator': module (eval, frozen), 'generator_cfg': dict, 'discriminator': module | None,
        'discriminator_cfg': dict | None}``.
    """
    from gen3d.apis.inference import init_model

    source = f"{GENERATOR_KEY}={path}"
    try:
        gan = init_model(path, device="cpu")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{source}: file not found") from err
    except (ValueError, KeyError, AttributeError, TypeError) as err:
        raise ValueError(f"{source}: not a loadable GAN checkpoint ({err})") from err
    gen = getattr(gan, "generator_ema", None) or getattr(gan, "generator", None)
    model_cfg = gan.cfg.model
    if not isinstance(gen, nn.Module) or "generator" not in model_cfg:
        raise ValueError(f"{source}: holds a {type(gan).__name__}, not a GAN with a generator")
    check_stylegan2(gen, source)
    out = {"generator": gen.eval().requires_grad_(False), "generator_cfg": _plain(model_cfg.generator),
           "discriminator": None, "discriminator_cfg": None}
    if discriminator:
        disc = getattr(gan, "discriminator", None)
        if not isinstance(disc, nn.Module) or "discriminator" not in model_cfg:
            raise ValueError(f"{source}: the adversarial term needs the GAN's discriminator, which it does not hold")
        out["discriminator"], out["discriminator_cfg"] = disc, _plain(model_cfg.discriminator)
    return out


def load_padinv_checkpoint(path: str, device: str = "cpu") -> nn.Module:
    """A trained :class:`~.model.PadInv` from its checkpoint alone (the GAN checkpoint is not needed).

    Args:
        path: ``.pth`` written by ``tools/train.py`` for a PadInv config.
        device: Torch device.

    Returns:
        The model in eval mode, ``model.cfg`` set, weights exactly as saved.
    """
    from mmengine.registry import init_default_scope

    import gen3d.models.editing.padinv  # noqa: F401 - registers PadInv
    from gen3d.registry import MODELS
    from gen3d.utils.checkpoint import load_local_checkpoint
    from gen3d.utils.safe_config import config_from_text

    ckpt = load_local_checkpoint(path, map_location="cpu")
    meta, state = ckpt.get("meta", {}), ckpt.get("state_dict", ckpt)
    if "cfg" not in meta:
        raise ValueError(f"checkpoint {path} carries no config (meta.cfg): not a tools/train.py checkpoint")
    cfg = config_from_text(meta["cfg"], source=f"checkpoint {path} (meta.cfg)")
    model_cfg = cfg.model.to_dict()
    if str(model_cfg.get("type", "")).split(".")[-1] != "PadInv":
        raise ValueError(f"checkpoint {path} holds a {model_cfg.get('type')} model, not PadInv")
    extra = state.get("_extra_state")
    if not isinstance(extra, dict) or "generator_cfg" not in extra:
        raise ValueError(f"checkpoint {path} has no PadInv generator config (state_dict['_extra_state'])")
    init_default_scope(cfg.get("default_scope", "gen3d"))
    model_cfg.update(generator_ckpt=None, generator=extra["generator_cfg"])
    if extra.get("discriminator_cfg") is not None:
        model_cfg["discriminator"] = extra["discriminator_cfg"]
    model = MODELS.build(model_cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint {path} does not fit its PadInv config: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    model.cfg = cfg
    return model.to(device).eval()
