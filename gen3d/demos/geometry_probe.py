"""Score the shapes a 3D-aware GAN renders: a supervised geometry estimator as pseudo ground truth for fakes.

Generated images have no ground truth. GeoD (arXiv 2209.15637, section 4) and the 3D-GAN literature it follows
(``qiuyu96/Carver:metrics/depth_eg3d.py``) score a generator's rendered geometry against the geometry that a separate
single-image estimator reads off the generated RGB: a shape is good when what the generator renders agrees with what
its picture shows. The offline 3D set (:mod:`gen3d.datasets.shape3d_synthesis`) has true normals, depths and masks,
so the estimator here is trained *supervised* on real images (no pretrained weights needed) and checked on held-out
real images first (its own error is reported: it bounds what the score can resolve).

The probe is Unsup3d's encoder-decoder (:class:`~gen3d.models.gans.geod.inverse_renderer.EDDeconv`), a different
network from GeoD's geometry head (a decoder over D's features); it never sees a generator while it trains, so it
scores the plain pi-GAN and pi-GAN + GeoD alike. GeoD's generator loss pulls the rendered normals towards a
geometry head's reading of the fake image, which is this protocol's question: the score measures the paper's claim,
and a reader should know it is close to what GeoD optimises (section 4 of the paper uses the same kind of reference).

Outputs per fake (``score_generator``): normal angular error of the rendered normals (``normals='depth'``: from the
rendered depth) against the probe's, and the error of the rendered depth over the opacity (where a ray stops) against
the probe's depth, both inside the probe's foreground mask. Depth is compared as metric ray distance without alignment
(the set's cameras all sit at one radius and the object at the origin, so where a surface is is part of the shape;
MiDaS's closed-form scale can also come out negative and would turn a hollow shape convex).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen3d.evaluation.metrics.geometry_functional import depth_errors, normal_angular_error
from gen3d.models.gans.geod.inverse_renderer import EDDeconv

PROBE_NF, PROBE_ZDIM = 32, 128
PROBE_ITERS, PROBE_BATCH, PROBE_LR = 600, 32, 1e-3
HELD_OUT = 0.2  # last fraction of the images checks the probe


class GeometryProbe(nn.Module):
    """Image -> unit normals, relative depth and a foreground logit (one encoder-decoder, 5 output channels).

    Args:
        resolution: Image side (power of two >= 8).
        nf: Base width.
        zdim: Bottleneck size.
    """

    def __init__(self, resolution: int, nf: int = PROBE_NF, zdim: int = PROBE_ZDIM, depth_offset: float = 1.0) -> None:
        super().__init__()
        self.resolution = int(resolution)
        self.depth_offset = float(depth_offset)
        self.net = EDDeconv(3, 5, self.resolution, nf, zdim)

    def forward(self, img: Tensor) -> dict[str, Tensor]:
        """``img`` ``(N, 3, R, R)`` in ``[-1, 1]`` -> unit ``normal`` ``(N, 3, R, R)``, ``depth`` and ``mask_logit``.

        ``depth`` ``(N, 1, R, R)`` is metric ray distance (the set's cameras share one radius, so it is readable);
        ``mask_logit`` ``(N, 1, R, R)``.
        """
        out = self.net(img)
        return {"normal": F.normalize(out[:, :3], dim=1), "depth": out[:, 3:4] + self.depth_offset,
                "mask_logit": out[:, 4:5]}


def load_geometry_set(root: str | Path) -> dict[str, Tensor]:
    """Read a posed-image folder with ground truth through :class:`~gen3d.datasets.gan.PoseImageDataset`.

    The dataset's checks apply (missing or mismatched geometry files are refused naming the file).

    Returns:
        ``image`` ``(N, 3, R, R)`` in ``[-1, 1]``, ``normal`` ``(N, 3, R, R)``, ``depth`` ``(N, 1, R, R)``, ``mask``
        ``(N, 1, R, R)`` bool, in the dataset's order (sorted stems).
    """
    from gen3d.registry import DATASETS

    dataset = DATASETS.build(dict(
        type="PoseImageDataset", data_root=str(root), require=("depth", "normal", "mask"), test_mode=True,
        pipeline=[dict(type="LoadGANImage", color_type="color"), dict(type="LoadPoseGeometry"),
                  dict(type="PackPoseInputs")]))
    if len(dataset) == 0:
        raise ValueError(f"{Path(root) / 'images'}: no images")
    items = [dataset[i] for i in range(len(dataset))]
    image = torch.stack([it["inputs"] for it in items]).float() / 127.5 - 1
    fields = {k: torch.stack([it["data_samples"][k] for it in items]) for k in ("normal", "depth", "mask")}
    return {"image": image, "normal": fields["normal"], "depth": fields["depth"], "mask": fields["mask"] > 0.5}


def probe_loss(pred: dict[str, Tensor], normal: Tensor, depth: Tensor, mask: Tensor) -> Tensor:
    """Masked cosine loss on normals + BCE on the mask + masked L1 on metric depth (x 10: depths vary by ~0.1)."""
    m = mask.float()
    count = m.sum().clamp_min(1)
    loss_n = ((1 - (pred["normal"] * normal).sum(1, keepdim=True)) * m).sum() / count
    loss_m = F.binary_cross_entropy_with_logits(pred["mask_logit"], m)
    loss_d = ((pred["depth"] - depth).abs() * m).sum() / count
    return loss_n + loss_m + 10 * loss_d


def train_probe(root: str | Path, iters: int = PROBE_ITERS, batch_size: int = PROBE_BATCH, lr: float = PROBE_LR,
                seed: int = 0, held_out: float = HELD_OUT, progress: bool = True) -> tuple[GeometryProbe, dict]:
    """Train a :class:`GeometryProbe` on the first ``1 - held_out`` of a set; score it on the rest.

    Returns:
        The probe (eval mode) and its held-out scores against the true geometry: ``normal_mean_deg``,
        ``normal_median_deg``, ``normal_within_30``, ``depth_absrel``, ``mask_iou``, ``train_images``,
        ``test_images``.
    """
    data = load_geometry_set(root)
    n = len(data["image"])
    n_test = max(1, int(round(n * held_out))) if n > 1 else 0
    train = {k: v[: n - n_test] for k, v in data.items()}
    test = {k: v[n - n_test:] for k, v in data.items()} if n_test else train
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    valid = data["mask"] & (data["depth"] > 0)
    offset = float(data["depth"][valid].mean()) if valid.any() else 1.0
    probe = GeometryProbe(data["image"].shape[-1], depth_offset=offset)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    bar = _progress(iters, "geometry probe") if progress else None
    for _ in range(iters):
        idx = torch.randint(0, len(train["image"]), (batch_size,), generator=g)
        batch = _mirror({k: v[idx] for k, v in train.items()}, torch.rand(batch_size, generator=g) < 0.5)
        loss = probe_loss(probe(batch["image"]), batch["normal"], batch["depth"], batch["mask"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    if bar is not None:
        bar.close()
    probe.eval()
    with torch.no_grad():
        pred = probe(test["image"])
    scores = _compare(pred["normal"], test["normal"], pred["depth"], test["depth"], test["mask"])
    fg = pred["mask_logit"] > 0
    scores["mask_iou"] = float((fg & test["mask"]).sum() / (fg | test["mask"]).sum().clamp_min(1))
    scores.update(train_images=n - n_test, test_images=n_test)
    return probe, scores


def interior(mask: Tensor) -> Tensor:
    """``(N, 1, H, W)`` bool: the pixels of ``mask`` whose 3 x 3 neighbourhood is all in it (one pixel eroded).

    Normals from depth are undefined at a silhouette: the finite differences straddle the object and the background
    (measured on the offline set's true depth at 32 px: 52 degrees mean error over the whole mask, 5.7 inside it).
    """
    return mask & ~F.max_pool2d((~mask).float(), 3, 1, 1).bool()


def _mirror(batch: dict[str, Tensor], flip: Tensor) -> dict[str, Tensor]:
    """Mirror the images of ``flip`` ``(B,)`` left-right with their geometry (normals: camera ``x`` changes sign)."""
    f = flip[:, None, None, None]
    out = {k: torch.where(f, v.flip(-1), v) for k, v in batch.items()}
    out["normal"] = torch.where(f, out["normal"] * torch.tensor([-1.0, 1.0, 1.0])[:, None, None], out["normal"])
    return out


def _compare(normal: Tensor, ref_normal: Tensor, depth: Tensor, ref_depth: Tensor, mask: Tensor) -> dict[str, float]:
    errs = normal_angular_error(normal, ref_normal, mask)
    # Metric depth, not aligned: MiDaS's least-squares scale may come out negative and turn a hollow shape convex.
    d = depth_errors(depth, ref_depth, mask, align=False)["absrel"]
    d = d[~d.isnan()]  # images without a foreground
    return {"normal_mean_deg": float(errs["mean"]), "normal_median_deg": float(errs["median"]),
            "normal_within_30": float(errs["within_30"]), "depth_absrel": float(d.mean()) if len(d) else math.nan,
            "pixels": int(errs["count"])}


@torch.no_grad()
def score_generator(gen: nn.Module, probe: GeometryProbe, num: int = 200, seed: int = 0,
                    batch_size: int = 25) -> dict[str, Any]:
    """Render ``num`` seeded fakes (seeded poses) and score their rendered geometry against the probe's reading.

    Returns:
        ``normal_mean_deg``, ``normal_median_deg``, ``normal_within_30`` (NaN when no pixel is scored),
        ``pixels`` (scored pixels), ``depth_absrel`` (rendered vs probe,
        metric, inside the probe's mask), ``foreground`` (mean fraction of the frame the probe calls object),
        ``num``.
    """
    from gen3d.models.gans.sampling import generate_outputs, seed_latents, seed_poses

    seeds = list(range(seed, seed + num))
    z, pose = seed_latents(seeds, int(gen.z_dim)), seed_poses(gen, seeds)
    out = generate_outputs(gen, z, None, pose, 1.0, "const", batch_size)
    if out.normal is None or out.depth is None:
        raise ValueError(f"{type(gen).__name__} renders no normals / depth: nothing to score")
    img = out.image.clamp(-1, 1)
    if img.shape[-1] != probe.resolution:
        raise ValueError(f"the probe reads {probe.resolution} px images, the generator renders {img.shape[-1]} px")
    pred = probe(img)
    mask = interior(pred["mask_logit"] > 0)
    depth = out.depth.float()
    if out.mask is not None:  # sum w_i t_i / opacity: the depth where a ray stops (EG3D's ray marcher normalises so;
        depth = depth / out.mask.float().clamp_min(1e-3)  # pi-GAN's white_back leaves it scaled by the opacity)
    scores = _compare(out.normal.float(), pred["normal"], depth, pred["depth"], mask)
    scores.update(foreground=float(mask.float().mean()), num=num)
    return scores


def _progress(total: int, desc: str) -> Any:  # noqa: ANN401
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
