"""The report's figures, one function each: ``f(study, ..., ax=None) -> Plot`` (figure and alt text).

``training``: chosen configurations' training records; ``overview``: the whole study; ``depth``: the depth sweep.
Without ``ax`` a figure
makes its own matplotlib figure, titled and laid out; with ``ax`` (one Axes, or one per panel) it draws there.
"""

from .base import Plot, canvas
from .depth import accuracy_vs_depth
from .fair import escape_curves, lr_curve_data, lr_curves, paired_ranking
from .overview import cost, init_flow_figure, lr_depth, ranked, ranked_comparison
from .training import (
    curves,
    grad_heatmap,
    grad_norm_over_training,
    heatmap_data,
    layer_profile,
    layer_profile_data,
    log_norm_range,
    saturated_labels,
    saturation_per_layer,
    thinned_steps,
)

__all__ = [
    "Plot",
    "accuracy_vs_depth",
    "canvas",
    "cost",
    "curves",
    "escape_curves",
    "grad_heatmap",
    "grad_norm_over_training",
    "heatmap_data",
    "init_flow_figure",
    "layer_profile",
    "layer_profile_data",
    "log_norm_range",
    "lr_curve_data",
    "lr_curves",
    "lr_depth",
    "paired_ranking",
    "ranked",
    "ranked_comparison",
    "saturated_labels",
    "saturation_per_layer",
    "thinned_steps",
]
