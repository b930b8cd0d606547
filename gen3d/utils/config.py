"""Config loading: ``--cfg-options`` and ``--data-root`` applied, then every check of :mod:`.config_checks`.

The checks (misspelt keys, unregistered types, arguments a class, loop, optim wrapper or optimizer does not take)
live in :mod:`gen3d.utils.config_checks`; :class:`ConfigError` and the check functions are re-exported here.
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Iterator
from typing import Any

from mmengine.config import Config, ConfigDict

from gen3d.utils.config_checks import (
    DATALOADERS,
    ConfigError,
    check_cfg_options,
    check_depth_data,
    check_loop_sampler,
    check_loops,
    check_model_args,
    check_optim_wrapper,
    check_registered_types,
    check_top_level_keys,
    check_typed_kwargs,
)


def iter_dataset_cfgs(cfg: Config, dataloaders: tuple[str, ...] = DATALOADERS) -> Iterator[tuple[str, dict]]:
    """Yield ``(dotted key, dataset cfg)`` for every dataset config under the given dataloaders (recursively).

    Wrapper datasets (``ConcatDataset(datasets=[...])``, ``RepeatDataset(dataset=...)``) are walked through.
    """

    def walk(node: Any, key: str) -> Iterator[tuple[str, dict]]:
        if isinstance(node, dict):
            if "data_root" in node:
                yield key, node
            for child_key in ("dataset", "datasets", "labeled", "unlabeled"):
                child = node.get(child_key)
                if isinstance(child, dict):
                    yield from walk(child, f"{key}.{child_key}")
                elif isinstance(child, (list, tuple)):
                    for i, item in enumerate(child):
                        yield from walk(item, f"{key}.{child_key}.{i}")

    for name in dataloaders:
        loader = cfg.get(name)
        if isinstance(loader, dict):
            yield from walk(loader.get("dataset"), f"{name}.dataset")


def apply_data_root(cfg: Config, data_root: str) -> None:
    """Point every dataset of the config at ``data_root`` (what ``--data-root`` does).

    Raises:
        FileNotFoundError: ``data_root`` does not exist.
    """
    if not osp.isdir(data_root):
        raise FileNotFoundError(f"--data-root {data_root!r} does not exist or is not a directory.")
    cfg.data_root = data_root
    for _, dataset_cfg in iter_dataset_cfgs(cfg):
        dataset_cfg["data_root"] = data_root


def check_data_roots(cfg: Config, dataloaders: tuple[str, ...]) -> None:
    """Refuse a dataset whose ``data_root`` does not exist, naming the key and the path.

    Raises:
        FileNotFoundError: With the config key, the missing path and how to point elsewhere.
    """
    for key, dataset_cfg in iter_dataset_cfgs(cfg, dataloaders):
        root = dataset_cfg.get("data_root")
        if isinstance(root, str) and root and not osp.isdir(root):
            raise FileNotFoundError(
                f"Data root {root!r} ({key}.data_root in {cfg.filename}) does not exist. "
                "Pass --data-root DIR to point the config at your data."
            )


def load_config(path: str, cfg_options: dict[str, Any] | None = None) -> Config:
    """Load a config file, apply ``--cfg-options`` after checking their keys, and check it.

    Args:
        path: Config file path.
        cfg_options: Overrides ``{dotted.key: value}``; keys prefixed with ``+`` may be new.

    Returns:
        The merged config.

    Raises:
        FileNotFoundError: The config file does not exist.
        ConfigError: An unknown override key, a misspelt top-level key, an unregistered type, a key that the
            typed dict's class, the loop, the optim wrapper or the optimizer does not take, or a model argument
            its class refuses (e.g. a timm ``model_name`` that timm does not know).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    cfg = Config.fromfile(path)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict({k.lstrip("+"): v for k, v in cfg_options.items()})
    check_top_level_keys(cfg)
    check_registered_types(cfg)
    check_typed_kwargs(cfg)
    check_model_args(cfg)
    check_loops(cfg)
    check_optim_wrapper(cfg)
    check_loop_sampler(cfg)
    check_depth_data(cfg)
    return cfg


__all__ = [
    "ConfigDict", "ConfigError", "apply_data_root", "check_cfg_options", "check_data_roots", "check_depth_data",
    "check_loops", "check_model_args", "check_optim_wrapper", "check_registered_types", "check_top_level_keys",
    "check_typed_kwargs", "iter_dataset_cfgs", "load_config",
]
