"""Read a config saved inside a checkpoint as data, never as code.

mmengine's Runner stores ``cfg.pretty_text`` in ``checkpoint['meta']['cfg']``: Python source made of
``name = <value>`` lines. ``Config.fromstring`` would execute that text (and leave a temporary file behind when it
fails), so a checkpoint could run any command when loaded without ``--config``. :func:`config_from_text` parses it
with :mod:`ast` instead and accepts only what ``pretty_text`` emits:

* module-level assignments to one name (``model = ...``);
* constants (strings, bytes, numbers, ``True``/``False``/``None``), ``inf`` and ``nan``, and ``+``/``-`` on numbers;
* list, tuple, set and dict displays;
* ``dict(key=value, ...)`` and ``dict({...})`` calls (keyword arguments, or one dict display).

Anything else (another call, a name, an attribute, an import, a lambda, an f-string, a comprehension, an
operator) is refused with :class:`UnsafeConfigError`, naming the source and the line. ``custom_imports`` in a
saved config stay data: nothing is imported (an import runs code); a checkpoint of a plugin model needs its config.
"""

from __future__ import annotations

import ast
from typing import Any

from mmengine.config import Config

from gen3d.utils.config import ConfigError

# Names pretty_text writes for float values that have no literal (``repr(float('inf'))`` is ``inf``).
FLOAT_NAMES = {"inf": float("inf"), "nan": float("nan")}


class UnsafeConfigError(ConfigError):
    """A saved config holds something other than plain data (code that would run if it were executed)."""


class _Reader:
    """Turn the AST of a pretty_text config into Python values; refuse any node that is not plain data."""

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source = text, source

    def refuse(self, node: ast.AST, what: str) -> UnsafeConfigError:
        segment = ast.get_source_segment(self.text, node) or ""
        segment = segment if len(segment) <= 80 else segment[:77] + "..."
        return UnsafeConfigError(
            f"Refusing the config saved in {self.source}: line {getattr(node, 'lineno', '?')} holds {what} "
            f"({segment!r}), not plain data; a saved config is read as data, never executed. Pass a config file you "
            "trust instead (tools/infer.py --config FILE, tools/deploy.py DEPLOY_CFG FILE CKPT)."
        )

    def value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and node.value is not Ellipsis:
            return node.value
        if isinstance(node, ast.Name) and node.id in FLOAT_NAMES:
            return FLOAT_NAMES[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.value(node.operand)
            if isinstance(operand, (int, float, complex)) and not isinstance(operand, bool):
                return -operand if isinstance(node.op, ast.USub) else +operand
            raise self.refuse(node, "a sign on a value that is not a number")
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.value(elt) for elt in node.elts]  # a starred element is refused by value()
            return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
        if isinstance(node, ast.Dict):
            if any(key is None for key in node.keys):
                raise self.refuse(node, "a '**' expansion")
            return {self.value(k): self.value(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            return self.dict_call(node)
        raise self.refuse(node, _describe(node))

    def dict_call(self, node: ast.Call) -> dict:
        if len(node.args) > 1 or (node.args and not isinstance(node.args[0], ast.Dict)):
            raise self.refuse(node, "a dict() call with positional arguments other than one dict display")
        result = self.value(node.args[0]) if node.args else {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.refuse(node, "a '**' expansion")
            result[keyword.arg] = self.value(keyword.value)
        return result

    def module(self, tree: ast.Module) -> dict:
        cfg: dict[str, Any] = {}
        for stmt in tree.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
                raise self.refuse(stmt, _describe(stmt))
            cfg[stmt.targets[0].id] = self.value(stmt.value)
        return cfg


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Expr):
        return _describe(node.value)
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "an import"
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    kind = "statement" if isinstance(node, ast.stmt) else "expression"
    return f"a Python {kind} of type {type(node).__name__}"


def parse_config_text(text: str, source: str = "<config text>") -> dict:
    """Parse ``pretty_text``-style config source into a plain dict, without executing anything.

    Args:
        text: Config source, as mmengine's ``Config.pretty_text`` writes it.
        source: What the text comes from (the checkpoint file), for messages.

    Returns:
        ``{name: value}`` of the module-level assignments.

    Raises:
        UnsafeConfigError: The text holds anything but assignments of plain data; the message names the line.
        ConfigError: The text is not valid Python.
    """
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as err:
        raise ConfigError(f"The config saved in {source} is not valid Python (line {err.lineno}: {err.msg}).") from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise ConfigError(f"The config saved in {source} cannot be parsed: {type(err).__name__}.") from None
    try:
        return _Reader(text, source).module(tree)
    except RecursionError:
        raise ConfigError(f"The config saved in {source} is nested too deeply to read.") from None


def config_from_text(text: str | dict, source: str = "<config text>") -> Config:
    """Build a :class:`~mmengine.config.Config` from a saved config: no ``exec``, no temporary file.

    Args:
        text: ``pretty_text`` source (what ``checkpoint['meta']['cfg']`` holds), or an already plain dict.
        source: What the text comes from (the checkpoint file), for messages.

    Returns:
        The config, with ``filename`` ``None`` (it comes from no file) and the text kept as ``cfg.text``.

    Raises:
        UnsafeConfigError: The text holds code (see :func:`parse_config_text`).
        ConfigError: The text is not valid Python, or uses a key mmengine reserves.
    """
    if isinstance(text, dict):
        cfg_dict, cfg_text = dict(text), None
    elif isinstance(text, str):
        cfg_dict, cfg_text = parse_config_text(text, source), text
    else:
        raise ConfigError(f"The config saved in {source} is of type {type(text).__name__}, not config text.")
    try:
        return Config(cfg_dict, cfg_text=cfg_text)
    except KeyError as err:  # a key mmengine reserves (filename, text, pretty_text, env_variables)
        raise ConfigError(f"The config saved in {source} uses a reserved key: {err}.") from None


__all__ = ["UnsafeConfigError", "config_from_text", "parse_config_text"]
