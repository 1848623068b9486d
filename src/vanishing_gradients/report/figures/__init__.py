"""The report's figures, one function each: ``f(study, ..., ax=None) -> Plot`` (figure and alt text).

``training``: chosen configurations' training records; ``teaching``: the mechanism, as a teacher shows it;
``overview``: the whole study; ``depth``: the depth sweep; ``spectra``: the Jacobian's singular values at
initialisation. Without ``ax`` a figure makes its own matplotlib figure,
titled and laid out; with ``ax`` (one Axes, or one per panel) it draws there. ``teaching.profile_animation`` gives
an ``Animation`` instead, which the notebook embeds with a slider.
"""

from .base import Animation, Plot, canvas
from .depth import accuracy_vs_depth
from .fair import escape_curves, lr_curve_data, lr_curves, ranking_figure
from .overview import cost, init_flow_figure, lr_depth, ranked, ranked_comparison
from .phase import phase_diagram
from .spectra import jacobian_spectra
from .teaching import (
    grad_bars,
    grad_bars_data,
    mechanism,
    profile_animation,
    profile_frames,
    signals_at_init,
    signals_data,
    update_ratio,
)
from .training import (
    curves,
    grad_heatmap,
    grad_norm_over_training,
    heatmap_data,
    layer_profile,
    layer_profile_data,
    log_norm_range,
    rolling_steps,
    saturated_labels,
    saturation_per_layer,
)

__all__ = [
    "Animation",
    "Plot",
    "accuracy_vs_depth",
    "canvas",
    "cost",
    "curves",
    "escape_curves",
    "grad_bars",
    "grad_bars_data",
    "grad_heatmap",
    "grad_norm_over_training",
    "heatmap_data",
    "init_flow_figure",
    "jacobian_spectra",
    "layer_profile",
    "layer_profile_data",
    "log_norm_range",
    "lr_curve_data",
    "lr_curves",
    "lr_depth",
    "mechanism",
    "phase_diagram",
    "profile_animation",
    "profile_frames",
    "ranked",
    "ranked_comparison",
    "ranking_figure",
    "rolling_steps",
    "saturated_labels",
    "saturation_per_layer",
    "signals_at_init",
    "signals_data",
    "update_ratio",
]
