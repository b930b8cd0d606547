"""A torch-free ``.ply`` mesh writer and reader (vertices, triangle faces, optional uint8 vertex colours).

Binary little-endian by default (compact; MeshLab, Blender, Open3D and trimesh read it); ``ascii=True`` for a file a
person can read. :func:`read_ply` reads back what :func:`write_ply` writes (tests, quick checks), not every PLY.
"""

from __future__ import annotations

import os
import os.path as osp

import numpy as np


def write_ply(path: str, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None,
              ascii: bool = False) -> str:
    """Write a triangle mesh.

    Args:
        path: ``.ply`` file (its folder is created).
        vertices: float ``(V, 3)``.
        faces: int ``(F, 3)`` vertex indices.
        colors: Optional uint8 ``(V, 3)`` RGB per vertex (floats in ``[0, 1]`` are scaled).
        ascii: Text instead of binary little-endian.

    Returns:
        ``path``.

    Raises:
        ValueError: Shapes that do not fit, or face indices out of range.
    """
    v = np.asarray(vertices, np.float32).reshape(-1, 3)
    f = np.asarray(faces, np.int64).reshape(-1, 3)
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"face indices must be in [0, {len(v)}), got [{f.min()}, {f.max()}]")
    if colors is not None:
        colors = np.asarray(colors)
        if colors.dtype != np.uint8:
            colors = np.clip(np.round(colors.astype(np.float64) * 255), 0, 255).astype(np.uint8)
        if colors.shape != (len(v), 3):
            raise ValueError(f"colors must be ({len(v)}, 3), got {colors.shape}")
    header = ["ply", f"format {'ascii' if ascii else 'binary_little_endian'} 1.0", "comment written by gen3d",
              f"element vertex {len(v)}", "property float x", "property float y", "property float z"]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, "wb") as out:
        out.write(("\n".join(header) + "\n").encode("ascii"))
        if ascii:
            for k, p in enumerate(v):
                extra = "" if colors is None else " " + " ".join(str(int(x)) for x in colors[k])
                out.write(f"{p[0]:.6g} {p[1]:.6g} {p[2]:.6g}{extra}\n".encode("ascii"))
            for tri in f:
                out.write(f"3 {tri[0]} {tri[1]} {tri[2]}\n".encode("ascii"))
            return path
        fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
        fields += [("r", "u1"), ("g", "u1"), ("b", "u1")] if colors is not None else []
        rows = np.empty(len(v), fields)
        rows["x"], rows["y"], rows["z"] = v.T
        if colors is not None:
            rows["r"], rows["g"], rows["b"] = colors.T
        out.write(rows.tobytes())
        tris = np.empty(len(f), [("n", "u1"), ("i", "<i4", (3,))])
        tris["n"], tris["i"] = 3, f
        out.write(tris.tobytes())
    return path


def read_ply(path: str) -> dict[str, np.ndarray]:
    """Read a mesh :func:`write_ply` wrote: ``{'vertices' (V, 3), 'faces' (F, 3)[, 'colors' (V, 3) uint8]}``."""
    with open(path, "rb") as f:
        lines = []
        while not lines or lines[-1] != "end_header":
            lines.append(f.readline().decode("ascii").strip())
        body = f.read()
    counts = {ln.split()[1]: int(ln.split()[2]) for ln in lines if ln.startswith("element")}
    nv, nf, has_color = counts["vertex"], counts["face"], any("red" in ln for ln in lines)
    if "format ascii 1.0" in lines:
        rows = body.decode("ascii").split("\n")
        vert = np.array([r.split() for r in rows[:nv]], np.float64).reshape(nv, -1)
        faces = np.array([r.split()[1:4] for r in rows[nv:nv + nf]], np.int64).reshape(nf, 3)
        out = {"vertices": vert[:, :3].astype(np.float32), "faces": faces}
        if has_color:
            out["colors"] = vert[:, 3:6].astype(np.uint8)
        return out
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")] + ([("r", "u1"), ("g", "u1"), ("b", "u1")] if has_color else [])
    rows = np.frombuffer(body, fields, nv)
    tris = np.frombuffer(body, [("n", "u1"), ("i", "<i4", (3,))], nf, offset=rows.nbytes)
    out = {"vertices": np.stack([rows["x"], rows["y"], rows["z"]], 1), "faces": tris["i"].astype(np.int64)}
    if has_color:
        out["colors"] = np.stack([rows["r"], rows["g"], rows["b"]], 1)
    return out
