"""ReSeFa: region-based semantic factorization (Zhu et al., ICML'22, arXiv 2202.09649, Sec. 3).

Follows the official ``compute_jacobian.py`` and ``compute_direction.py`` (zhujiapeng/resefa@973889c):

* ``G: w -> image`` with ONE ``w`` broadcast to all synthesis layers (``noise_mode="const"``), the Jacobian taken
  w.r.t. that ``w`` with the image channels kept; above 256 px the image is resized (nearest, ``scale_factor``) to
  256 px and summed over its channels, as the official ``syn2jaco``;
* ``M_R = J_R^T J_R / |R|`` and ``M_B = J_B^T J_B / |B|`` (``|.|``: rows of ``J``, i.e. pixel-elements), optionally
  ``M_B + tau * tr(M_B) * I`` (official ``--full_rank``, off by default, ``--tao 1e-3``);
* directions ``n`` of ``M_R n = lambda M_B n`` sorted by descending ``lambda``, unit norm.

Deviations from the official code, all deliberate:

* the official code calls ``np.linalg.eig(inv(M_B) @ M_R)`` and keeps the real parts; here
  ``scipy.linalg.eigh(M_R, M_B)`` solves the same symmetric-definite problem without forming ``inv(M_B)``
  (real eigenpairs by construction, numerically stable). When ``M_B`` is singular (not positive definite) and the
  regulariser is off, where the official ``inv`` would fail or return garbage, a ridge ``eps * tr(M_B) / d * I``
  (``eps = 1e-8``) is added instead (:data:`SINGULAR_RIDGE`);
* the official code computes one direction set PER SAMPLE (``image_{ind:02d}_...npy``) and leaves the choice to the
  user; :func:`resefa_directions` averages ``M_R`` and ``M_B`` over the samples by default (``average=False`` gives
  the official per-sample sets);
* the region may differ per sample (``region_fn``, e.g. a segmentor run on each generated sample,
  :mod:`~gen3d.models.editing.label_regions`): each sample's ``M_R`` / ``M_B`` use its own mask and ``|R|`` / ``|B|``
  before the average;
* eigenvector signs are arbitrary in both; here each direction's largest-magnitude entry is made positive;
* the Jacobian is vectorised forward-mode AD by default (the official call is reverse-mode); same values, see
  :func:`image_jacobian`.

As the official code, the latents are ``np.random.seed(4); randn(5, z_dim)`` mapped WITHOUT truncation.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from torch import Tensor, nn
from torch.autograd.functional import jacobian
from torch.nn import functional as F

from .label_regions import RegionFn, sample_masks
from .region import Region, region_mask

TAU = 1e-3  # compute_direction.py --tao
SINGULAR_RIDGE = 1e-8  # our fallback ridge (relative to tr(M_B) / d) for a singular M_B without --full_rank
JACOBIAN_MAX_SIZE = 256  # compute_jacobian.py: images above 256 px are resized to 256 and summed over channels
NUM_SAMPLES, SEED = 5, 4  # compute_jacobian.py --nums 5 --seed 4

#: ``w (d,) -> image (C, H, W)``.
ImageFn = Callable[[Tensor], Tensor]
#: What a generator must expose for ReSeFa / SeFa: a ``w`` space (StyleGAN2 layout).
W_INTERFACE = ("mapping", "synthesis", "num_ws", "w_dim", "z_dim")


def require_w_generator(generator: nn.Module, name: str = "generator") -> nn.Module:
    """Refuse a generator without a ``w`` space (a BigGAN, a pi-GAN): ReSeFa's Jacobian is taken w.r.t. ``w``.

    Args:
        generator: The generator.
        name: What to name in the error (e.g. ``"checkpoint <path>"``).

    Returns:
        ``generator``.

    Raises:
        TypeError: Naming ``name``, the generator's class, what it lacks and what is needed.
    """
    missing = [a for a in W_INTERFACE if not hasattr(generator, a)]
    if not missing and not hasattr(generator.synthesis, "resolution"):
        missing = ["synthesis.resolution"]
    if missing:
        raise TypeError(f"{name}: its generator {type(generator).__name__} exposes no w space (no {missing}); "
                        "ReSeFa and SeFa need a StyleGAN2-style generator: mapping z -> w, synthesis(ws "
                        "[N, num_ws, w_dim]) -> image, num_ws, w_dim, z_dim (e.g. a StyleGAN2Generator checkpoint)")
    return generator


def generator_image_fn(generator: nn.Module, noise_mode: str = "const",
                       layers: Sequence[int] | None = None) -> ImageFn:
    """The official ``syn2jaco``: one ``w`` broadcast to all ``num_ws`` layers, then the synthesis network.

    Args:
        generator: A :class:`~gen3d.models.gans.stylegan2.StyleGAN2Generator` (``synthesis``, ``num_ws``).
        noise_mode: Noise of the synthesis convs (``"const"``: the official default, deterministic).
        layers: None (official): the derivative flows through every layer. Otherwise (our extension, to match an
            edit restricted to these layers) the other layers see the same ``w`` detached, so the Jacobian is
            ``sum_{l in layers} dG / dws_l``; the image itself is unchanged.

    Returns:
        ``w (w_dim,) -> image (C, R, R)``; ``(1, 256, 256)`` (resized, channel-summed) when ``R > 256``.
    """
    if layers is not None:
        layers = [int(v) for v in layers]
        if not layers or any(not 0 <= v < generator.num_ws for v in layers) or len(set(layers)) != len(layers):
            raise ValueError(f"layers must be distinct ints in [0, {generator.num_ws}), got {layers!r}")

    def fn(w: Tensor) -> Tensor:
        if layers is None:
            ws = w.reshape(1, 1, -1).expand(1, generator.num_ws, w.shape[-1])
        else:
            ws = torch.stack([w if idx in layers else w.detach() for idx in range(generator.num_ws)]).unsqueeze(0)
        img = generator.synthesis(ws, noise_mode=noise_mode)
        if img.shape[-1] > JACOBIAN_MAX_SIZE:
            img = F.interpolate(img, scale_factor=JACOBIAN_MAX_SIZE / img.shape[-1]).sum(dim=1, keepdim=True)
        return img[0]

    return fn


def image_jacobian(fn: ImageFn, w: Tensor, strategy: str = "forward-mode") -> Tensor:
    """Jacobian of ``fn`` at ``w`` (vectorised ``torch.autograd.functional.jacobian``).

    Args:
        fn: ``w (d,) -> image (C, H, W)``.
        w: ``(d,)``.
        strategy: ``"forward-mode"`` (default: one vmapped JVP per latent dimension; 0.1-1 s for a 16-px
            StyleGAN2 on CPU) or ``"reverse-mode"`` (one vmapped VJP per output element, as the official call;
            about 50 s for the same generator, so only for functions without forward-mode support).

    Returns:
        ``(C, H, W, d)``.
    """
    w = w.detach().reshape(-1)
    jac = jacobian(fn, w, create_graph=False, strict=False, vectorize=True, strategy=strategy)
    return jac.detach()


def region_matrices(jac: Tensor, mask: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``M_R = J_R^T J_R / |R|`` and ``M_B = J_B^T J_B / |B|`` of one Jacobian.

    Args:
        jac: ``(C, H, W, d)``.
        mask: ``(H, W)`` bool, True inside the region ``R``.

    Returns:
        ``M_R``, ``M_B``: ``(d, d)`` float64, ``|.|`` counting the rows of ``J`` (pixels times channels).
    """
    if jac.ndim != 4 or tuple(mask.shape) != tuple(jac.shape[1:3]):
        raise ValueError(f"expected jac (C, H, W, d) and mask (H, W), got {tuple(jac.shape)} and {tuple(mask.shape)}")
    jac = jac.double().cpu()
    mask = mask.cpu().bool()
    if not mask.any() or mask.all():
        raise ValueError(f"mask: the region and its complement must both be non-empty (region has {int(mask.sum())} "
                         f"of {mask.numel()} pixels)")
    j_r = jac[:, mask].reshape(-1, jac.shape[-1])
    j_b = jac[:, ~mask].reshape(-1, jac.shape[-1])
    return (j_r.T @ j_r / j_r.shape[0]).numpy(), (j_b.T @ j_b / j_b.shape[0]).numpy()


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    idx = np.abs(vectors).argmax(axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), idx])
    return vectors * np.where(signs == 0, 1.0, signs)[:, None]


def solve_directions(m_r: np.ndarray, m_b: np.ndarray, full_rank: bool = False, tau: float = TAU,
                     eps: float = SINGULAR_RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """Generalised eigenproblem ``M_R n = lambda M_B n``.

    Args:
        m_r: ``(d, d)`` symmetric PSD.
        m_b: ``(d, d)`` symmetric PSD.
        full_rank: Add ``tau * tr(M_B) * I`` to ``M_B`` (official ``--full_rank``).
        tau: Its coefficient.
        eps: Fallback ridge ``eps * tr(M_B) / d * I`` when ``M_B`` (after the optional regulariser) is not
            positive definite.

    Returns:
        ``eigenvalues (d,)`` descending and ``directions (d, d)``: row ``k`` is the unit-norm direction of the
        ``k``-th eigenvalue.
    """
    m_r, m_b = np.asarray(m_r, dtype=np.float64), np.asarray(m_b, dtype=np.float64)
    d = m_r.shape[0]
    if m_r.shape != (d, d) or m_b.shape != (d, d):
        raise ValueError(f"m_r and m_b must be square of one size, got {m_r.shape} and {m_b.shape}")
    if not (np.isfinite(m_r).all() and np.isfinite(m_b).all()):
        raise ValueError("m_r and m_b must be finite")
    m_r, m_b = (m_r + m_r.T) / 2, (m_b + m_b.T) / 2
    trace = float(np.trace(m_b))
    if trace <= 0:
        raise ValueError("m_b is zero: the generator output outside the region does not depend on w")
    if full_rank:
        m_b = m_b + tau * trace * np.eye(d)
    try:
        scipy.linalg.cholesky(m_b, lower=True)
    except np.linalg.LinAlgError:
        m_b = m_b + eps * trace / d * np.eye(d)  # singular M_B: tiny ridge instead of the official inv() failing
    values, vectors = scipy.linalg.eigh(m_r, m_b)
    order = np.argsort(-values, kind="stable")
    vectors = vectors[:, order].T
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return values[order], _fix_signs(vectors)


def rayleigh_quotient(direction: np.ndarray, m_r: np.ndarray, m_b: np.ndarray) -> float:
    """In/out energy ratio ``n^T M_R n / n^T M_B n`` that the top ReSeFa direction maximises.

    Args:
        direction: ``(d,)``.
        m_r: ``(d, d)``.
        m_b: ``(d, d)``.

    Returns:
        The quotient.
    """
    n = np.asarray(direction, dtype=np.float64)
    return float(n @ m_r @ n / (n @ m_b @ n))


@dataclass
class ReSeFaResult:
    """Directions of :func:`resefa_directions`.

    Attributes:
        directions: ``(d, d)`` rows sorted by descending eigenvalue; ``(S, d, d)`` per sample when not averaged.
        eigenvalues: ``(d,)`` or ``(S, d)``.
        ws: ``(S, d)`` the latents the Jacobians were taken at.
        m_r: ``(d, d)`` (mean) region matrix, or ``(S, d, d)``.
        m_b: ``(d, d)`` (mean) complement matrix (before any regulariser), or ``(S, d, d)``.
        masks: ``(S, H, W)`` bool: the region used for each sample (one mask repeated, or a ``region_fn``'s).
    """

    directions: np.ndarray
    eigenvalues: np.ndarray
    ws: np.ndarray
    m_r: np.ndarray
    m_b: np.ndarray
    masks: np.ndarray | None = None


def sample_w(generator: nn.Module, num: int = NUM_SAMPLES, seed: int = SEED) -> Tensor:
    """Latents ``w`` of the official sampling: ``np.random.seed(seed); np.random.randn(num, z_dim)``, mapped.

    Args:
        generator: A StyleGAN2 generator (``mapping``, ``z_dim``).
        num: Number of samples.
        seed: NumPy seed.

    Returns:
        ``(num, w_dim)`` untruncated ``w`` (the official Jacobians use no truncation).
    """
    z = torch.from_numpy(np.random.RandomState(seed).randn(num, generator.z_dim).astype(np.float32))
    param = next(generator.parameters())
    with torch.no_grad():
        ws = generator.mapping(z.to(param.device), None)
    return ws[:, 0] if ws.ndim == 3 else ws


def resefa_from_fn(fn: ImageFn, ws: Tensor, mask: Tensor, average: bool = True, full_rank: bool = False,
                   tau: float = TAU, strategy: str = "forward-mode") -> ReSeFaResult:
    """ReSeFa directions of any ``w -> image`` function (a generator, or a synthetic model in tests).

    Args:
        fn: ``w (d,) -> image (C, H, W)``.
        ws: ``(S, d)`` latents to take Jacobians at.
        mask: ``(H, W)`` bool region, or ``(S, H, W)``: one per sample (each sample's ``M_R`` / ``M_B`` then use its
            own region).
        average: Average ``M_R`` and ``M_B`` over the samples before solving (ours); False: one set per sample
            (official).
        full_rank: Official ``--full_rank`` regulariser.
        tau: Its coefficient.
        strategy: Jacobian strategy (see :func:`image_jacobian`).

    Returns:
        A :class:`ReSeFaResult`.
    """
    if ws.ndim != 2 or ws.shape[0] < 1:
        raise ValueError(f"ws must be (S, d) with S >= 1, got {tuple(ws.shape)}")
    masks = mask.bool().cpu().expand(ws.shape[0], *mask.shape[-2:]) if mask.ndim == 2 else mask.bool().cpu()
    if masks.ndim != 3 or masks.shape[0] != ws.shape[0]:
        raise ValueError(f"mask must be (H, W) or (S, H, W) with S = {ws.shape[0]} samples, got {tuple(mask.shape)}")
    mats = [region_matrices(image_jacobian(fn, w, strategy), m) for w, m in zip(ws, masks)]
    m_r, m_b = np.stack([m[0] for m in mats]), np.stack([m[1] for m in mats])
    if average:
        m_r, m_b = m_r.mean(axis=0), m_b.mean(axis=0)
        values, vectors = solve_directions(m_r, m_b, full_rank, tau)
    else:
        solved = [solve_directions(a, b, full_rank, tau) for a, b in zip(m_r, m_b)]
        values, vectors = np.stack([s[0] for s in solved]), np.stack([s[1] for s in solved])
    return ReSeFaResult(vectors, values, ws.detach().cpu().double().numpy(), m_r, m_b, masks.numpy().copy())


def resefa_directions(generator: nn.Module, region: Region | None, num_samples: int = NUM_SAMPLES, seed: int = SEED,
                      ws: Tensor | None = None, average: bool = True, full_rank: bool = False, tau: float = TAU,
                      noise_mode: str = "const", strategy: str = "forward-mode",
                      layers: Sequence[int] | None = None, region_fn: RegionFn | None = None) -> ReSeFaResult:
    """ReSeFa directions of a StyleGAN2 generator for a region.

    Args:
        generator: A StyleGAN2 generator; put in eval mode by the caller.
        region: Box ``[center_row, center_col, h, w]`` in pixels at the Jacobian resolution (the generator's, or
            256 above 256 px), an :data:`~gen3d.models.editing.region.FFHQ_BOXES` name, or a boolean mask; None
            with ``region_fn``.
        num_samples: Latents to average over (official 5).
        seed: Their NumPy seed (official 4); ignored when ``ws`` is given.
        ws: Optional ``(S, w_dim)`` latents instead of sampling.
        average: See :func:`resefa_from_fn`.
        full_rank: Official ``--full_rank``.
        tau: Its coefficient.
        noise_mode: Synthesis noise (official ``"const"``).
        strategy: Jacobian strategy.
        layers: Layers the Jacobian flows through (see :func:`generator_image_fn`); None: all (official).
        region_fn: Instead of ``region``: ``image (1, C, R, R) -> (H, W) bool`` run on each sample's image (its
            ``w`` broadcast to all layers, as the Jacobian), resized (nearest) to the Jacobian resolution.

    Returns:
        A :class:`ReSeFaResult` with ``(w_dim, w_dim)`` directions (and the per-sample masks used).
    """
    require_w_generator(generator)
    if (region is None) == (region_fn is None):
        raise ValueError("region: give exactly one of region (a box, box name or mask) and region_fn")
    if ws is None:
        ws = sample_w(generator, num_samples, seed)
    fn = generator_image_fn(generator, noise_mode, layers)
    size = min(generator.synthesis.resolution, JACOBIAN_MAX_SIZE)
    if region_fn is None:
        mask = region_mask(region, size)
    else:
        with torch.no_grad():
            images = generator.synthesis(ws.reshape(len(ws), 1, -1).expand(-1, generator.num_ws, -1),
                                         noise_mode=noise_mode)
        mask = sample_masks(region_fn, images, size)
    return resefa_from_fn(fn, ws, mask, average, full_rank, tau, strategy)
