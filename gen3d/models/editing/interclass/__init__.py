"""InterClassGAN (He et al., arXiv 2203.11173): channel awareness of a class-conditional GAN and its applications.

:func:`channel_awareness` scores every (class, layer, channel) of a generator with per-layer features and
``layer_hook`` (``BigGANGenerator``), by default at its CCBN + ReLU activations (the paper's layers,
:func:`default_layers`); the default definition is ``'grad_x_activation'`` normalised to class
specificity (:mod:`.awareness` says why). :mod:`.findings` turns it into the paper's findings as numbers,
:mod:`.applications` edits channels, hybridises classes and segments images, and :mod:`.evaluation` correlates
total awareness with per-class quality.
"""

from .applications import channel_sweep, edit_channel, hybridise, kmeans, segment
from .awareness import (
    AWARENESS_FNS,
    DEFAULT_AWARENESS,
    ChannelAwareness,
    ablation_scores,
    channel_awareness,
    default_layers,
    register_awareness,
)
from .evaluation import category_wise_evaluation, lite0_extractor
from .findings import (
    AWARE_THRESHOLD,
    TOP_FRAC,
    aware_fraction,
    contribution_concentration,
    overlap_matrix,
    pair_summary,
    shared_channels,
    top_sets,
)

__all__ = [
    "AWARENESS_FNS", "AWARE_THRESHOLD", "DEFAULT_AWARENESS", "TOP_FRAC", "ChannelAwareness", "ablation_scores",
    "aware_fraction", "category_wise_evaluation", "channel_awareness", "channel_sweep", "contribution_concentration",
    "default_layers", "edit_channel", "hybridise", "kmeans", "lite0_extractor", "overlap_matrix", "pair_summary",
    "register_awareness", "segment", "shared_channels", "top_sets",
]
