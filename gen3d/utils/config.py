"""Config loading and checks that turn silent mistakes into one clear message.

mmengine accepts a ``--cfg-options`` key that does not exist (it just adds it), ignores a misspelt top-level
key such as ``optim_wraper``, and reports an unregistered ``type`` deep inside a build. The checks here run
before the Runner is built and name the key, the path or the type, with close matches when there are some.
"""

from __future__ import annotations

import difflib
import inspect
import os.path as osp
from collections.abc import Iterator
from typing import Any

from mmengine.config import Config, ConfigDict
from mmengine.registry import Registry
from mmengine.runner import Runner as MMEngineRunner


class ConfigError(ValueError):
    """A config (or a ``--cfg-options`` override) names a key, type or path that does not exist."""


# Top-level keys the Runner reads, plus the ones gen3d configs and tools use.
RUNNER_KEYS = set(inspect.signature(MMEngineRunner.__init__).parameters) - {"self", "cfg"}
KNOWN_TOP_LEVEL_KEYS = RUNNER_KEYS | {
    "default_scope", "runner_type", "find_unused_parameters", "sync_bn", "data_root", "dataset_type",
    "auto_scale_lr", "log_level", "launcher", "custom_imports",
}
# Where a ``type`` names a module of a given registry (dotted paths; ``*`` matches any list index).
TYPE_LOCATIONS = {
    "model": "MODELS",
    "train_dataloader.dataset": "DATASETS",
    "val_dataloader.dataset": "DATASETS",
    "test_dataloader.dataset": "DATASETS",
    "train_dataloader.dataset.pipeline.*": "TRANSFORMS",
    "val_dataloader.dataset.pipeline.*": "TRANSFORMS",
    "test_dataloader.dataset.pipeline.*": "TRANSFORMS",
    "val_evaluator": "METRICS",
    "test_evaluator": "METRICS",
    "custom_hooks.*": "HOOKS",
}
DATALOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")


def _suggest(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=3, cutoff=0.6)
    return f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""


def _lookup(cfg: Any, path: list[str]) -> tuple[bool, Any]:
    node = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return False, node
    return True, node


def check_cfg_options(cfg: Config, options: dict[str, Any]) -> None:
    """Refuse ``--cfg-options`` keys that do not exist in the config.

    A new key is accepted only inside a dict that has a ``type`` (keyword arguments of a registered class,
    checked by the class itself when it is built). Prefix a key with ``+`` to add it anywhere on purpose.

    Args:
        cfg: The loaded config.
        options: ``{dotted.key: value}`` as parsed by mmengine's ``DictAction``.

    Raises:
        ConfigError: A key whose parent does not exist, or an unknown key in a plain dict.
    """
    for key in options:
        if key.startswith("+"):
            continue
        parts = key.split(".")
        if _lookup(cfg, parts)[0]:
            continue
        parent_found, parent = _lookup(cfg, parts[:-1])
        if parent_found and isinstance(parent, dict) and "type" in parent:
            continue
        # the first component that is missing, and the node that should have held it
        depth = next(i for i in range(1, len(parts) + 1) if not _lookup(cfg, parts[:i])[0])
        holder = _lookup(cfg, parts[: depth - 1])[1]  # the (config-)dict that lacks the key
        siblings = holder.keys() if isinstance(holder, dict) else []
        where = ".".join(parts[: depth - 1]) or "the top level"
        raise ConfigError(
            f"--cfg-options key {key!r}: {parts[depth - 1]!r} does not exist under {where} of config "
            f"{cfg.filename}.{_suggest(parts[depth - 1], siblings)} Prefix the key with '+' to add it on purpose."
        )


def check_top_level_keys(cfg: Config) -> None:
    """Refuse top-level keys that look like a misspelt Runner key (``optim_wraper``, ``train_cfgs``).

    Helper variables (``data_root``, ``train_pipeline``, ...) are free-form; only a key that is close to a
    Runner key without being one is refused.

    Raises:
        ConfigError: Naming the key and the Runner key it resembles.
    """
    for key in cfg.keys():
        if key in KNOWN_TOP_LEVEL_KEYS or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, sorted(RUNNER_KEYS), n=1, cutoff=0.85)
        if close:
            raise ConfigError(f"Unknown top-level config key {key!r} in {cfg.filename}. Did you mean {close[0]!r}?")


def _iter_type_nodes(node: Any, pattern: list[str], prefix: str = "") -> Iterator[tuple[str, Any]]:
    if not pattern:
        yield prefix, node
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                yield from _iter_type_nodes(item, rest, f"{prefix}.{i}")
        return
    if isinstance(node, dict) and head in node:
        yield from _iter_type_nodes(node[head], rest, f"{prefix}.{head}" if prefix else head)


def _registry_names(registry: Registry) -> set[str]:
    names: set[str] = set()
    reg: Registry | None = registry
    while reg is not None:
        names.update(reg.module_dict)
        reg = reg.parent
    return names


def check_registered_types(cfg: Config) -> None:
    """Refuse a ``type`` string that no registry knows, at the usual places of a config.

    Raises:
        ConfigError: Naming the config key, the type and close registered names.
    """
    from gen3d import registry as gen3d_registry

    root = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for location, registry_name in TYPE_LOCATIONS.items():
        registry: Registry = getattr(gen3d_registry, registry_name)
        for key, node in _iter_type_nodes(root, location.split(".")):
            entries = node if isinstance(node, (list, tuple)) else [node]
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
                    continue
                type_name = entry["type"]
                if registry.get(type_name) is None:
                    raise ConfigError(
                        f"{key}.type = {type_name!r} is not registered in gen3d's {registry.name} registry."
                        f"{_suggest(type_name.split('.')[-1], _registry_names(registry))}"
                    )


def _accepted_kwargs(obj: Any) -> set[str] | None:
    """Keyword arguments a registered class or function accepts; None when it takes ``**kwargs`` (or is opaque)."""
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in params if p.kind in named}


def _check_kwargs(entry: dict, key: str, registry: Registry, filename: Any) -> None:
    type_ = entry["type"]
    obj = type_ if isinstance(type_, type) else registry.get(type_)
    accepted = _accepted_kwargs(obj) if obj is not None else None
    if accepted is None:
        return
    for name in entry:
        if name != "type" and name not in accepted:
            raise ConfigError(
                f"{key}.{name}: {name!r} is not an argument of {obj.__name__} ({key}.type) in config {filename}."
                f"{_suggest(name, sorted(accepted))}"
            )


def _iter_typed_dicts(node: Any, key: str, skip: tuple[str, ...] = ("init_cfg",)) -> Iterator[tuple[str, dict]]:
    """Every dict with a ``type`` under ``node`` (itself included) and its dotted key; ``skip`` keys are not entered."""
    if isinstance(node, dict):
        if isinstance(node.get("type"), (str, type)):
            yield key, node
        for child_key, child in node.items():
            if child_key not in skip:
                yield from _iter_typed_dicts(child, f"{key}.{child_key}", skip)
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _iter_typed_dicts(item, f"{key}.{i}", skip)


def check_typed_kwargs(cfg: Config) -> None:
    """Refuse a key of a typed dict that its class does not take, e.g. ``model.backbone.pretraned``.

    mmengine passes every key but ``type`` to the class, so such a key fails only when the Runner builds it, as a
    ``TypeError`` deep in a traceback. Checked: the whole ``model`` tree (each nested dict whose ``type`` is in
    MODELS; ``init_cfg`` is left to mmengine) and the datasets, pipeline steps, evaluators and hooks of
    ``TYPE_LOCATIONS`` and ``default_hooks``. Classes that take ``**kwargs`` are not checked.

    Raises:
        ConfigError: Naming the dotted key, the class and close argument names.
    """
    from gen3d import registry as gen3d_registry

    root = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    filename = getattr(cfg, "filename", None)
    for key, entry in _iter_typed_dicts(root.get("model"), "model"):
        _check_kwargs(entry, key, gen3d_registry.MODELS, filename)
    for location, registry_name in TYPE_LOCATIONS.items():
        if location == "model":
            continue
        registry: Registry = getattr(gen3d_registry, registry_name)
        for key, node in _iter_type_nodes(root, location.split(".")):
            entries = enumerate(node) if isinstance(node, (list, tuple)) else [(None, node)]
            for i, entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("type"), (str, type)):
                    _check_kwargs(entry, key if i is None else f"{key}.{i}", registry, filename)
    for name, hook in (root.get("default_hooks") or {}).items():
        if isinstance(hook, dict) and isinstance(hook.get("type"), (str, type)):
            _check_kwargs(hook, f"default_hooks.{name}", gen3d_registry.HOOKS, filename)


def check_loop_sampler(cfg: Config) -> None:
    """Refuse an epoch-based training loop fed by an infinite sampler (the first epoch would never end).

    Raises:
        ConfigError: Naming the loop and the sampler keys.
    """
    train_cfg, loader = cfg.get("train_cfg") or {}, cfg.get("train_dataloader") or {}
    by_epoch = train_cfg.get("type", "EpochBasedTrainLoop") == "EpochBasedTrainLoop" and "max_iters" not in train_cfg
    sampler = (loader.get("sampler") or {}).get("type", "")
    if train_cfg and by_epoch and str(sampler).endswith("InfiniteSampler"):
        raise ConfigError(
            f"train_cfg is epoch-based but train_dataloader.sampler.type = {sampler!r} in {cfg.filename}: an epoch "
            "would never end. Use DefaultSampler with an EpochBasedTrainLoop, or an IterBasedTrainLoop."
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
        ConfigError: An unknown override key, a misspelt top-level key, an unregistered type or a key that the
            typed dict's class does not take.
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
    check_loop_sampler(cfg)
    return cfg


__all__ = [
    "ConfigDict", "ConfigError", "apply_data_root", "check_cfg_options", "check_data_roots",
    "check_registered_types", "check_top_level_keys", "check_typed_kwargs", "iter_dataset_cfgs", "load_config",
]
