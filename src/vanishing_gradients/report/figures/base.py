"""What every figure shares: the finished ``Plot`` (figure and alt text) and the axes a figure draws on."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
# Missing optional fonts (STIX, cm*) make matplotlib log one "findfont" line each; DejaVu Sans covers every
# glyph used here, and those lines would otherwise land in the report as stderr output.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


@dataclass
class Plot:
    """A finished figure with its alt text (what it shows, for readers who cannot see it). An interactive one also
    has ``hover`` (an artist's gid -> the text shown on it) and ``toggles`` (a legend entry's gid -> the gids that a
    click on it hides or shows)."""

    fig: plt.Figure
    alt: str
    hover: dict[str, str] = field(default_factory=dict)
    toggles: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Canvas:
    """The figure and axes a figure function draws on; ``own``: the function made the figure (and finishes it)."""

    fig: plt.Figure
    axes: list
    own: bool

    def finish(self, title_text: str | None, alt: str) -> Plot:
        """A figure made here gets its title and layout; axes passed in are left to their caller's figure."""
        if self.own:
            if title_text:
                self.fig.suptitle(title_text, fontsize=13)
            self.fig.tight_layout()
        return Plot(self.fig, alt)


def canvas(ax, panels: int, figsize: tuple[float, float], **subplots) -> Canvas:
    """``ax`` (one Axes, or ``panels`` of them) or, when None, a new figure of ``panels`` side by side."""
    if ax is None:
        fig, axes = plt.subplots(1, panels, figsize=figsize, squeeze=False, **subplots)
        return Canvas(fig, list(axes[0]), True)
    axes = list(np.ravel(ax))
    if len(axes) != panels:
        raise ValueError(f"this figure draws {panels} panel(s), got {len(axes)} axes")
    return Canvas(axes[0].figure, axes, False)


def listing(items) -> str:
    return ", ".join(map(str, items))


@dataclass
class Animation:
    """A figure drawn frame by frame (``anim``, a matplotlib FuncAnimation) with its alt text: the notebook embeds
    it as self-contained HTML with a slider (``notebook.animate``)."""

    fig: plt.Figure
    anim: object
    alt: str
