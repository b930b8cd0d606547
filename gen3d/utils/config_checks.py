"""Config checks that turn silent mistakes into one clear message, each naming the key and close matches.

mmengine accepts a ``--cfg-options`` key that does not exist (it just adds it), ignores a misspelt top-level
key such as ``optim_wraper`` or ``train_cfg.max_epoch``, and reports an unregistered ``type`` deep inside a build.
These checks run (from :func:`gen3d.utils.config.load_config`) before the Runner is built.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator
from typing import Any

from mmengine.config import Config
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
# Loop configs and the loop the Runner builds when they name no ``type`` (train: ``by_epoch`` decides).
DEFAULT_LOOPS = {"train_cfg": None, "val_cfg": "ValLoop", "test_cfg": "TestLoop"}
RUNNER_LOOP_ARGS = {"runner", "dataloader", "evaluator"}  # passed by the Runner, never by the config
# Keys mmengine's DefaultOptimWrapperConstructor reads from ``paramwise_cfg`` (it ignores any other).
PARAMWISE_KEYS = {"custom_keys", "bias_lr_mult", "bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult",
                  "flat_decay_mult", "bypass_duplicate", "dcn_offset_lr_mult"}


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


def check_model_args(cfg: Config) -> None:
    """Let the classes of the ``model`` tree check their arguments before anything is built.

    A registered class may define a static ``check_config_args(args: dict, key: str)`` that raises ``ValueError``
    naming ``key`` (the dotted key of the dict), e.g. the timm backbones refuse a ``model_name`` that timm does not
    know, with close timm names.

    Raises:
        ConfigError: The class's message, with the config file.
    """
    from gen3d import registry as gen3d_registry

    root = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for key, entry in _iter_typed_dicts(root.get("model"), "model"):
        type_ = entry["type"]
        obj = type_ if isinstance(type_, type) else gen3d_registry.MODELS.get(type_)
        check = getattr(obj, "check_config_args", None)
        if callable(check):
            try:
                check({k: v for k, v in entry.items() if k != "type"}, key)
            except ValueError as err:
                raise ConfigError(f"{err} (config {getattr(cfg, 'filename', None)})") from None


def _refuse_unknown(node: dict, key: str, accepted: set[str], what: str, filename: Any) -> None:
    for name in node:
        if name not in accepted:
            raise ConfigError(f"{key}.{name}: {name!r} is not an argument of {what} in config {filename}."
                              f"{_suggest(name, sorted(accepted))}")


def _registered(registry: Registry, type_: Any, key: str) -> Any:
    obj = type_ if isinstance(type_, type) else registry.get(type_)
    if obj is None:
        raise ConfigError(f"{key} = {type_!r} is not registered in gen3d's {registry.name} registry."
                          f"{_suggest(str(type_).split('.')[-1], _registry_names(registry))}")
    return obj


def check_loops(cfg: Config) -> None:
    """Refuse a key of ``train_cfg`` / ``val_cfg`` / ``test_cfg`` that the loop class does not take (``max_epoch``).

    The loop is the one the Runner builds: ``type``, else ``by_epoch`` (Epoch/IterBasedTrainLoop), else
    ``ValLoop`` / ``TestLoop``. Loops that take ``**kwargs`` are not checked.

    Raises:
        ConfigError: An unregistered loop type, or a key the loop does not take, with close argument names.
    """
    from gen3d import registry as gen3d_registry

    root = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for name, default in DEFAULT_LOOPS.items():
        loop = root.get(name)
        if not isinstance(loop, dict) or not loop:
            continue
        if "type" in loop and "by_epoch" in loop and name == "train_cfg":
            raise ConfigError(f"train_cfg has both 'type' and 'by_epoch' in config {getattr(cfg, 'filename', None)}; "
                              "the Runner takes one of them (replace the whole dict with '_delete_=True').")
        if "type" in loop:
            cls, how, extra = _registered(gen3d_registry.LOOPS, loop["type"], f"{name}.type"), f"{name}.type", "type"
        elif name == "train_cfg" and "by_epoch" in loop:
            default = "EpochBasedTrainLoop" if loop["by_epoch"] else "IterBasedTrainLoop"
            cls, how, extra = gen3d_registry.LOOPS.get(default), f"{name}.by_epoch={loop['by_epoch']}", "by_epoch"
        elif default is not None:
            cls, how, extra = gen3d_registry.LOOPS.get(default), "the Runner's default", None
        else:
            continue  # a train_cfg with neither: the Runner says so when it trains
        accepted = _accepted_kwargs(cls)
        if accepted is not None:
            accepted = (accepted - RUNNER_LOOP_ARGS) | ({extra} if extra else set())
            _refuse_unknown(loop, name, accepted, f"{cls.__name__} ({how})", getattr(cfg, "filename", None))


def _wrapper_kwargs(cls: type) -> set[str] | None:
    """Keyword arguments of an optim wrapper class, following ``**kwargs`` up to the first base that has none."""
    named, accepted = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY), set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = list(inspect.signature(klass.__init__).parameters.values())[1:]
        accepted |= {p.name for p in params if p.kind in named}
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return accepted
    return None


def _check_optim_entry(entry: dict, key: str, top: bool, filename: Any) -> None:
    """One optim wrapper config: the wrapper's kwargs, ``paramwise_cfg``, ``optimizer`` and ``clip_grad``."""
    import torch

    from gen3d import registry as gen3d_registry

    wrapper = _registered(gen3d_registry.OPTIM_WRAPPERS, entry.get("type", "OptimWrapper"), f"{key}.type")
    accepted = _wrapper_kwargs(wrapper)
    if accepted is not None:
        own = {"type", "paramwise_cfg"} | ({"constructor"} if top else set())
        _refuse_unknown(entry, key, accepted | own, f"{wrapper.__name__} ({key}.type)", filename)
    if isinstance(entry.get("paramwise_cfg"), dict):
        _refuse_unknown(entry["paramwise_cfg"], f"{key}.paramwise_cfg", PARAMWISE_KEYS,
                        "DefaultOptimWrapperConstructor's paramwise_cfg", filename)
    optimizer = entry.get("optimizer")
    if isinstance(optimizer, dict) and "type" in optimizer:
        optim_cls = _registered(gen3d_registry.OPTIMIZERS, optimizer["type"], f"{key}.optimizer.type")
        accepted = _accepted_kwargs(optim_cls)
        if accepted is not None:
            _refuse_unknown(optimizer, f"{key}.optimizer", (accepted - {"params"}) | {"type"},
                            f"{optim_cls.__name__} ({key}.optimizer.type)", filename)
    clip = entry.get("clip_grad")
    if isinstance(clip, dict):
        func = torch.nn.utils.clip_grad_value_ if clip.get("type") == "value" else torch.nn.utils.clip_grad_norm_
        accepted = _accepted_kwargs(func)
        if accepted is not None:
            _refuse_unknown(clip, f"{key}.clip_grad", (accepted - {"parameters"}) | {"type"},
                            f"torch.nn.utils.{func.__name__}", filename)


def check_optim_wrapper(cfg: Config) -> None:
    """Refuse a key under ``optim_wrapper`` that is not read (``optimizer.lrr``, ``clip_gard``, ``paramwise_cfg.x``).

    Checked with mmengine's default constructor (``optimizer`` given) and gen3d's ``MultiOptimWrapperConstructor``
    (one wrapper config per submodule); other constructors read their own keys and are left alone.

    Raises:
        ConfigError: Naming the dotted key, the class that does not take it and close argument names.
    """
    from gen3d import registry as gen3d_registry

    ow = cfg.get("optim_wrapper")
    if not isinstance(ow, dict):
        return
    filename = getattr(cfg, "filename", None)
    constructor = ow.get("constructor", "DefaultOptimWrapperConstructor")
    constructor = _registered(gen3d_registry.OPTIM_WRAPPER_CONSTRUCTORS, constructor, "optim_wrapper.constructor")
    if constructor.__name__ == "DefaultOptimWrapperConstructor" and "optimizer" in ow:
        _check_optim_entry(ow, "optim_wrapper", True, filename)
    elif constructor.__name__ == "MultiOptimWrapperConstructor":
        for name, entry in ow.items():
            if name not in ("constructor", "paramwise_cfg") and isinstance(entry, dict):
                _check_optim_entry(entry, f"optim_wrapper.{name}", False, filename)


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


#: Models that train on RGB + depth, and the pipeline step that must load the depth.
DEPTH_MODELS, DEPTH_LOADER = ("DepthGAN",), "LoadRGBDDepth"


def check_depth_data(cfg: Config) -> None:
    """Refuse a depth-trained model (DepthGAN) whose training data cannot give depth, before anything is built.

    Raises:
        ConfigError: Naming ``train_dataloader.dataset.with_depth`` (False), ``train_dataloader.dataset.pipeline``
            (no ``LoadRGBDDepth`` step) or ``model.val_pairs`` (False beside a RotEval evaluator).
    """
    model_type = (cfg.get("model") or {}).get("type")
    dataset = (cfg.get("train_dataloader") or {}).get("dataset")
    if model_type not in DEPTH_MODELS or not isinstance(dataset, dict):
        return
    if cfg.model.get("val_pairs", True) is False:
        for split in ("val_evaluator", "test_evaluator"):
            evaluators = cfg.get(split) or []
            evaluators = [evaluators] if isinstance(evaluators, dict) else evaluators
            if any(isinstance(e, dict) and e.get("type") == "RotEval" for e in evaluators):
                raise ConfigError(f"{split} has RotEval, which needs two views per latent, but model.val_pairs = False "
                                  f"in {cfg.filename}: set it True or drop RotEval")
    key = "train_dataloader.dataset"
    if dataset.get("with_depth", True) is False:
        raise ConfigError(f"{model_type} trains on RGB + depth but {key}.with_depth = False in {cfg.filename}: set it "
                          "True (the data root needs a depth/ folder)")
    steps = [t.get("type") for t in dataset.get("pipeline") or () if isinstance(t, dict)]
    if DEPTH_LOADER not in steps:
        raise ConfigError(f"{model_type} trains on RGB + depth but {key}.pipeline = {steps} in {cfg.filename} loads "
                          f"no depth: add dict(type='{DEPTH_LOADER}') after the image loader (RGBDDataset data)")
