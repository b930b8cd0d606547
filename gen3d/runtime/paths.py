"""Names from data become harmless path components here, and only here (stdlib only; no torch).

Class names, defect types, COCO category names, file stems and CSV fields come from files, and files are data: they
never choose a path outside the folder the user named. :func:`safe_component` maps any string to one plain path
component; :func:`safe_join` joins such components under a root and checks that the result, symlinks resolved, is
still under that root::

    safe_component("bottle")          -> "bottle"                 (ordinary names are kept as they are)
    safe_component("../../..")        -> "_.._~297823c2"          (separators replaced, leading dots dropped)
    safe_component("a/b")             -> "a_b~c14cddc0"           (a changed name gets a hash of the original,
                                                                   so "a_b" and "a/b" do not share a folder)
    safe_join(show_dir, cls, defect, safe_component(stem) + ".png")
"""

from __future__ import annotations

import hashlib
import os
import os.path as osp
import unicodedata

MAX_BYTES = 120  # of a component, UTF-8; file systems allow 255, and the caller may append an extension
HASH_CHARS = 8
_UNSAFE = set('/\\<>:"|?*')  # separators everywhere, and the characters Windows refuses in a name
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", *(f"COM{i}" for i in range(10)),
             *(f"LPT{i}" for i in range(10)), *(f"COM{c}" for c in "¹²³"), *(f"LPT{c}" for c in "¹²³")}


class UnsafePathError(ValueError):
    """A path built from data would land outside the folder it must stay in."""


def _fingerprint(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]


def safe_component(name: object, max_bytes: int = MAX_BYTES) -> str:
    r"""One harmless path component for any string (deterministic; a name that is already safe is kept).

    Path separators (``/``, ``\``), the characters Windows refuses (``<>:"|?*``), NUL and other control or
    format characters become ``_``; leading dots, dashes and blanks and trailing dots and blanks are dropped (so
    ``.``, ``..``, hidden files and option-like ``-rf`` are impossible); Windows device names (``CON``,
    ``nul.txt``, ``COM1``...) get a leading ``_``; the result is at most ``max_bytes`` UTF-8 bytes. Whenever the name
    had to change, ``~`` and 8 hex digits of the original's sha256 are appended, so that two different names do not
    end up as the same component.

    Args:
        name: Any value (converted with ``str``).
        max_bytes: Longest result in UTF-8 bytes (at least 16).

    Returns:
        A non-empty name without separators, safe on POSIX and Windows.
    """
    text = str(name)
    out = "".join("_" if ch in _UNSAFE or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") else ch
                  for ch in text)
    out = out.lstrip(". -\t").rstrip(". ")
    if out.split(".")[0].upper().rstrip(" ") in _RESERVED:
        out = "_" + out
    limit = max(16, int(max_bytes))
    if out != text or not out or len(out.encode("utf-8")) > limit:
        body = out.encode("utf-8")[:limit - HASH_CHARS - 1].decode("utf-8", "ignore").rstrip(". ")
        out = f"{body or '_'}~{_fingerprint(text)}"
    return out


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it once both are resolved (symlinks followed, ``..`` collapsed)."""
    real, base = osp.realpath(path), osp.realpath(root)
    try:
        return osp.commonpath([real, base]) == base
    except ValueError:  # different drives on Windows
        return False


def safe_join(root: str, *names: object) -> str:
    """``root/<safe_component(n)>/...``: a path under ``root`` built from names that come from data.

    Every name is made safe with :func:`safe_component` (which keeps a name that already is), and the joined path,
    symlinks resolved, must still lie under ``root`` (a symlink inside ``root`` pointing elsewhere is refused).

    Raises:
        UnsafePathError: The result resolves outside ``root`` (names the path and the root).
    """
    path = osp.join(root, *(safe_component(n) for n in names))
    if not is_within(path, root):
        raise UnsafePathError(f"{path} resolves to {osp.realpath(path)}, outside {osp.realpath(root)}; refusing to "
                              "write there (a symlink inside the output folder?)")
    return path


def safe_makedirs(root: str, *names: object) -> str:
    """:func:`safe_join` the names under ``root`` and create that folder; returns it."""
    path = safe_join(root, *names)
    os.makedirs(path, exist_ok=True)
    if not is_within(path, root):  # re-check after creation: a symlink may have appeared meanwhile
        raise UnsafePathError(f"{path} resolves outside {root}")
    return path
