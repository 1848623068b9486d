"""The notebook's side of the report: display figures, tables, text and headings in IPython, and execute and
render the notebook (papermill, nbconvert). The only module of the report that imports IPython or papermill."""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import os
import re
import uuid
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from .figures import Animation, Plot
from .model import ReportData
from .outline import contents, sections


def _html(markup: str) -> None:
    from IPython.display import HTML, display

    display(HTML(markup))


def compact_png(raw: bytes) -> bytes:
    """A PNG with at most 256 colours (no dithering): the report's plots have few colours, and their embedded
    images shrink about 3-fold (the default study's report from 9.4 MB to 4.0 MB) with no visible change."""
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as image:
        palette = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    return min(buffer.getvalue(), raw, key=len)


# An embedded PNG as matplotlib's animations write it: base64 in a JavaScript string, broken by "\<newline>".
_FRAME = re.compile(r"(data:image/png;base64,)((?:[A-Za-z0-9+/=]|\\\n)+)")


def _compact_frames(markup: str) -> str:
    def compact(match: re.Match) -> str:
        raw = base64.b64decode(match.group(2).replace("\\\n", ""))
        return match.group(1) + base64.b64encode(compact_png(raw)).decode()

    return _FRAME.sub(compact, markup)


def show(plot: Plot, save_as: str | None = None, dpi: int = 90) -> None:
    """Display a figure in the notebook as an embedded PNG with its alt text (an interactive one as inline SVG,
    ``interactive_svg``), optionally save it as PNG too, free it."""
    from ..storage import atomic_path

    buffer = io.BytesIO()
    plot.fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    if plot.hover or plot.toggles:
        _html(interactive_svg(plot))
    else:
        data = base64.b64encode(compact_png(buffer.getvalue())).decode()
        _html(f'<img alt="{html.escape(plot.alt)}" src="data:image/png;base64,{data}"/>')
    plt.close(plot.fig)
    if save_as:
        with atomic_path(save_as) as tmp:
            tmp.write_bytes(buffer.getvalue())


# A click on a legend entry hides (or shows again) what it names, and dims the entries that share those members
# (a legend's line and its text). PREFIX and TOGGLES are filled in per figure.
TOGGLE_SCRIPT = """<script>(function () {
  const prefix = PREFIX, toggles = TOGGLES;
  const same = (a, b) => JSON.stringify(toggles[a]) === JSON.stringify(toggles[b]);
  for (const entry of Object.keys(toggles)) {
    const el = document.getElementById(prefix + entry);
    if (!el) continue;
    el.style.cursor = "pointer";
    el.addEventListener("click", () => {
      const hide = el.dataset.hidden !== "1";
      for (const key of Object.keys(toggles).filter((k) => same(k, entry))) {
        const e = document.getElementById(prefix + key);
        if (e) { e.dataset.hidden = hide ? "1" : "0"; e.style.opacity = hide ? 0.3 : 1; }
      }
      for (const member of toggles[entry]) {
        const t = document.getElementById(prefix + member);
        if (t) t.style.display = hide ? "none" : "";
      }
    });
  }
})();</script>"""


def interactive_svg(plot: Plot) -> str:
    """The figure as inline SVG (its own ids made unique in the page): each artist of ``plot.hover`` shows its text
    on hover, and a click on a legend entry of ``plot.toggles`` hides or shows what it names."""
    buffer = io.StringIO()
    plot.fig.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # no XML prolog inside HTML
    prefix = f"f{uuid.uuid4().hex[:8]}-"
    for gid in {*plot.hover, *plot.toggles, *(g for gids in plot.toggles.values() for g in gids)}:
        title = f"<title>{html.escape(plot.hover[gid])}</title>" if gid in plot.hover else ""
        svg = svg.replace(f'<g id="{gid}">', f'<g id="{prefix}{gid}">{title}', 1)
    script = TOGGLE_SCRIPT.replace("PREFIX", json.dumps(prefix)).replace("TOGGLES", json.dumps(plot.toggles))
    note = "Hover over a point for its value; click a legend entry to hide or show that configuration."
    return (
        f'<figure role="img" aria-label="{html.escape(plot.alt)}" style="margin:0">{svg}'
        f'<figcaption style="font-size:small">{note}</figcaption></figure>{script}'
    )


# matplotlib's animation controls draw Font Awesome icons from a CDN; the report stays self-contained (and readable
# offline) with characters of the report's own font instead. The flipped play icon first: it contains the other.
ICONS = {
    "fa fa-play fa-flip-horizontal": "◀",
    "fa fa-minus": "−",
    "fa fa-fast-backward": "|◀◀",
    "fa fa-step-backward": "|◀",
    "fa fa-pause": "❚❚",
    "fa fa-play": "▶",
    "fa fa-step-forward": "▶|",
    "fa fa-fast-forward": "▶▶|",
    "fa fa-plus": "+",
}


def animate(movie: Animation | None, dpi: int = 72) -> None:
    """Display an animation as self-contained HTML (its frames embedded as PNGs, a slider and play buttons, nothing
    fetched from elsewhere), with its alt text on the frame image; nothing for None."""
    if movie is None:
        return
    movie.fig.set_dpi(dpi)
    markup = _compact_frames(movie.anim.to_jshtml(default_mode="once"))
    plt.close(movie.fig)
    markup = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", markup)
    markup = re.sub(r'<i class="(fa [^"]+)"></i>', lambda m: ICONS.get(m.group(1), "·"), markup)
    _html(markup.replace("<img id=", f'<img alt="{html.escape(movie.alt)}" id=', 1))


def table(frame: pd.DataFrame, caption: str | None = None, precision: int | None = None) -> None:
    """Display a table without its index, with an optional caption and number precision."""
    from IPython.display import display

    styled = frame.style.hide(axis="index")
    if caption:
        styled = styled.set_caption(caption)
    if precision is not None:
        styled = styled.format(precision=precision)
    display(styled)


def heading(text: str, anchor: str, level: int = 3) -> None:
    _html(f'<h{level} id="{anchor}">{html.escape(text)}</h{level}>')


def section(anchor: str, study: ReportData) -> None:
    """The numbered heading of one of the report's sections (``text.SECTIONS``)."""
    heading(sections(study)[anchor], anchor, level=2)


def markdown(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


def bullets(lines: list[str]) -> None:
    if lines:
        markdown("\n".join("- " + line for line in lines))


def table_of_contents(study: ReportData) -> None:
    """The table of contents (``text.contents``): the sections, and a line per fix."""
    items = "".join(
        f'<li><a href="#{anchor}">{"&nbsp;" * 3 * (level - 2)}{html.escape(name)}</a></li>'
        for anchor, name, level in contents(study)
    )
    _html(f"<h2>Contents</h2><ul style='list-style:none'>{items}</ul>")


def render(
    template: str,
    executed: str,
    html_path: str,
    tables: dict,
    config: dict | None = None,
    show_code: bool = False,
    figures: dict | None = None,
    kernel_log=None,
) -> None:
    """Execute the notebook with papermill (kernel python3), keep it at ``executed``, write ``html_path``.

    ``tables`` are the aggregate tables' paths by name (the notebook's parameter ``paths``); ``figures`` maps
    figure names (``gradient_profile``, ``comparison``) to PNG paths the notebook also writes, for Snakemake's
    own ``--report``. ``kernel_log``: an open file (the rule's log) for what the kernel process prints on its
    stderr, such as ipykernel's warning that it runs over TCP; without it, the terminal.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from ..storage import atomic_path

    Path(executed).parent.mkdir(parents=True, exist_ok=True)
    # The kernel imports this very copy of the library (src/, three folders up), installed or not.
    src = str(Path(__file__).resolve().parents[2])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    with _stderr_to(kernel_log):
        papermill.execute_notebook(
            template,
            executed,
            kernel_name="python3",
            progress_bar=False,
            parameters={"paths": tables, "config": config or {}, "figures": figures or {}},
            cwd=str(Path(template).resolve().parent),
        )
    exporter = HTMLExporter(
        template_name="lab",
        template_file=str(Path(template).parent / "offline.html.j2"),
        exclude_input=not show_code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    with atomic_path(html_path) as tmp:
        tmp.write_text(body)


@contextlib.contextmanager
def _stderr_to(handle):
    """Point this process's stderr descriptor at ``handle`` (None: leave it) for the block: the kernel is a process
    of its own, which inherits the descriptor and which Python's ``redirect_stderr`` does not reach."""
    if handle is None:
        yield
        return
    handle.flush()
    saved = os.dup(2)
    os.dup2(handle.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
