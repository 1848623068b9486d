"""Tables, figures and sentences for the report notebook, all computed from the aggregate tables.

The notebook (reports/report.ipynb) only calls these functions, so every number it shows comes from the run
and the logic is unit-tested without Jupyter.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# Missing optional fonts (STIX, cm*) make matplotlib log one "findfont" line each; DejaVu Sans covers every
# glyph used here, and those lines would otherwise land in the report as stderr output.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .measures import SATURATION_DEFINITIONS  # noqa: E402
from .study import BASELINE  # noqa: E402

TITLES = {
    "baseline": "Baseline (sigmoid, SGD)",
    "weight_increasing": "Fix 1: weight increasing (larger init std)",
    "better_activation": "Fix 2: better activation (ReLU, Tanh)",
    "better_optimizer": "Fix 3: better optimizer (Adam)",
    "normalization": "Fix 4: normalisation inside the network",
    "skip_connection": "Fix 5: skip connections",
    "train_some_layers": "Fix 6: train some layers (grow the network stage by stage)",
    "gradient_normalization": "Fix 7: gradient normalisation",
    "combined": "Reference: the helpful fixes combined",
}
CI = ("ci", 95)


def ci(frame: pd.DataFrame):
    """95% bootstrap CI over seeds, or none when there is one seed: seaborn would still bootstrap every
    point for a band of zero width (measured: 1.9 s instead of 0.3 s for one curves panel)."""
    return CI if "seed" not in frame or frame["seed"].nunique() > 1 else None


def load(tables: dict) -> dict[str, pd.DataFrame]:
    frames = {}
    for name, path in tables.items():
        frames[name] = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
    runs = frames["runs"]
    runs["label"] = run_labels(runs)
    for name in ("metrics", "grad_steps", "grad_epochs"):
        frames[name] = frames[name].merge(runs[["group", "variant", "depth", "seed", "label"]], how="left")
    return frames


def run_labels(runs: pd.DataFrame) -> pd.Series:
    """A short name per run configuration (seeds share it): 'baseline d7', 'normalization/batchnorm d7'."""
    return runs.apply(
        lambda r: f"baseline {r.variant} d{r.depth}" if r.group == BASELINE else f"{r.group}/{r.variant} d{r.depth}",
        axis=1,
    )


def group_palette(groups) -> dict:
    """One colour per group, the same in every figure."""
    ordered = list(dict.fromkeys(groups))
    colours = sns.color_palette("tab10", n_colors=max(10, len(ordered)))
    return {g: colours[i % len(colours)] for i, g in enumerate(ordered)}


def seeds_note(runs: pd.DataFrame) -> str:
    seeds = sorted(runs["seed"].unique())
    if len(seeds) == 1:
        return f"One seed ({seeds[0]}): figures show single runs and tables have no confidence interval."
    return (
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}): lines and bars are means over seeds; bands and "
        "error bars are 95% confidence intervals (seaborn bootstrap); tables give mean ± 95% t-interval."
    )


# ------------------------------------------------------------------------------------------- tables
# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (beyond: the normal 1.96).
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_975(dof: int) -> float:
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval (NaN half-width for a single value)."""
    values = values.dropna()
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if n == 1:
        return float(values.iloc[0]), math.nan
    return float(values.mean()), float(t_975(n - 1) * values.std(ddof=1) / math.sqrt(n))


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run configuration, seeds pooled: test and best validation accuracy, gradient ratio."""
    rows = []
    for (group, variant, depth), frame in runs.groupby(["group", "variant", "depth"], sort=False):
        row = {"group": group, "variant": variant, "depth": depth, "seeds": len(frame)}
        for col in ("test_acc", "best_val_acc", "grad_ratio_first_last"):
            row[col], row[f"{col}_ci"] = mean_ci(frame[col])
        row["diverged"] = int(frame["diverged"].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def format_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Human-readable version: accuracy in %, ratio in scientific notation, '± CI' when there are seeds."""

    def fmt(value, ci, kind):
        if not math.isfinite(value):
            return "n/a"
        text = f"{100 * value:.2f}" if kind == "acc" else f"{value:.3g}"
        if math.isfinite(ci):
            text += f" ± {100 * ci:.2f}" if kind == "acc" else f" ± {ci:.2g}"
        return text

    return pd.DataFrame(
        {
            "run": table["group"] + "/" + table["variant"],
            "depth": table["depth"],
            "seeds": table["seeds"],
            "test accuracy (%)": [fmt(v, c, "acc") for v, c in zip(table["test_acc"], table["test_acc_ci"])],
            "best val accuracy (%)": [
                fmt(v, c, "acc") for v, c in zip(table["best_val_acc"], table["best_val_acc_ci"])
            ],
            "grad ratio hidden1/output": [
                fmt(v, c, "ratio") for v, c in zip(table["grad_ratio_first_last"], table["grad_ratio_first_last_ci"])
            ],
            "diverged runs": table["diverged"],
        }
    )


def cost_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Wall time and peak memory of every training job, from Snakemake's benchmark files."""
    cols = ["group", "variant", "depth", "seed", "epochs_run", "wall_s", "max_rss_mb", "train_seconds", "device"]
    table = runs[[c for c in cols if c in runs]].copy()
    if "wall_s" in table:
        table["s per epoch"] = table["train_seconds"] / table["epochs_run"]
    return table.sort_values(["group", "variant", "depth", "seed"]).reset_index(drop=True)


# ------------------------------------------------------------------------------------------ figures
def show(fig, save_as: str | None = None, dpi: int = 90) -> None:
    """Display a figure in the notebook as an embedded PNG (any backend), optionally save it too, free it."""
    import io

    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buffer.getvalue(), format="png"))
    if save_as:
        from .storage import atomic_path

        with atomic_path(save_as) as tmp:
            tmp.write_bytes(buffer.getvalue())


def _finish(fig, title):
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    return fig


def curves(metrics: pd.DataFrame, hue: str, title: str, palette=None):
    """Validation loss and accuracy per epoch, one line per ``hue`` value (mean and 95% CI over seeds)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, col, label in zip(
        axes, ("val_loss", "val_acc"), ("validation loss (cross-entropy, nats)", "validation accuracy (fraction)")
    ):
        sns.lineplot(data=metrics, x="epoch", y=col, hue=hue, errorbar=ci(metrics), ax=ax, palette=palette)
        ax.set(xlabel="epoch", ylabel=label, title=label.split(" (")[0])
    return _finish(fig, title)


def grad_norm_over_training(grad_steps: pd.DataFrame, title: str, max_points: int = 400):
    """Per-layer weight-gradient L2 norm against step, log scale, one panel per run label."""
    labels = list(dict.fromkeys(grad_steps["label"]))
    fig, axes = plt.subplots(1, len(labels), figsize=(5 * len(labels), 4), sharey=True, squeeze=False)
    for ax, label in zip(axes[0], labels):
        frame = grad_steps[grad_steps["label"] == label]
        steps = np.sort(frame["step"].unique())
        keep = steps[:: max(1, len(steps) // max_points)]
        frame = frame[frame["step"].isin(keep)]
        sns.lineplot(
            data=frame, x="step", y="grad_norm", hue="layer", errorbar=ci(frame), ax=ax, palette="viridis", linewidth=1
        )
        ax.set_yscale("log")
        ax.set(xlabel="training step (batch of 512)", ylabel="‖∇W‖₂ (L2 norm of weight gradient)", title=label)
        ax.legend(fontsize=7, title="layer")
    return _finish(fig, title)


def layer_order(layers) -> list[str]:
    hidden = sorted((l for l in set(layers) if l.startswith("hidden")), key=lambda l: int(l.removeprefix("hidden")))
    return hidden + (["output"] if "output" in set(layers) else [])


def log_norm_range(grad_epochs: pd.DataFrame) -> tuple[float, float]:
    """A shared colour range (log10 gradient norm, 1st to 99th percentile) so heatmaps compare at a glance."""
    values = np.log10(grad_epochs.loc[grad_epochs["statistic"] == "grad_norm", "value"].astype(float))
    values = values[np.isfinite(values)]
    if values.empty:
        return -8.0, 1.0
    return float(np.floor(values.quantile(0.01))), float(np.ceil(values.quantile(0.99)))


def grad_heatmap(grad_epochs: pd.DataFrame, label: str, title: str | None = None, vrange=None):
    """Layer x epoch heatmap of log10 mean gradient norm (seeds averaged); grey where not finite."""
    frame = grad_epochs[(grad_epochs["label"] == label) & (grad_epochs["statistic"] == "grad_norm")]
    wide = frame.pivot_table(index="layer", columns="epoch", values="value", aggfunc="mean", dropna=False)
    wide = wide.reindex(layer_order(wide.index))
    with np.errstate(divide="ignore", invalid="ignore"):
        logged = np.log10(wide.astype(float)).replace([np.inf, -np.inf], np.nan)
    vmin, vmax = vrange or log_norm_range(grad_epochs)
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(wide) + 1.5))
    ax.set_facecolor("lightgrey")
    if logged.notna().any().any():
        sns.heatmap(
            logged,
            ax=ax,
            cmap="magma",
            vmin=vmin,
            vmax=vmax,
            cbar_kws={"label": "log10 ‖∇W‖₂ (mean over the epoch's steps)"},
        )
    else:
        ax.text(
            0.5, 0.5, "no finite gradient norm (the run diverged)", ha="center", va="center", transform=ax.transAxes
        )
    ax.set(xlabel="epoch", ylabel="layer (input at top)")
    return _finish(fig, title or f"Gradient norm by layer and epoch: {label}")


def layer_profile(
    grad_epochs: pd.DataFrame,
    labels: list[str],
    title: str,
    statistic: str = "grad_norm",
    ylabel: str = "‖∇W‖₂, mean over all epochs",
    palette=None,
    hue_col: str = "label",
):
    """A statistic per layer (input to output), one line per run: how gradient flow changes with depth."""
    frame = grad_epochs[grad_epochs["label"].isin(labels) & (grad_epochs["statistic"] == statistic)]
    per_run = frame.groupby([hue_col, "label", "seed", "layer"], as_index=False)["value"].mean()
    order = layer_order(per_run["layer"])
    per_run["layer"] = pd.Categorical(per_run["layer"], order, ordered=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.lineplot(
        data=per_run.sort_values("layer"),
        x="layer",
        y="value",
        hue=hue_col,
        errorbar=ci(per_run),
        marker="o",
        ax=ax,
        palette=palette,
        sort=False,
    )
    ax.set_yscale("log")
    ax.set(xlabel="layer (input → output)", ylabel=ylabel)
    ax.legend(fontsize=8)
    return _finish(fig, title)


def saturation(grad_epochs: pd.DataFrame, labels: list[str], title: str):
    frame = grad_epochs[grad_epochs["label"].isin(labels) & (grad_epochs["statistic"] == "saturation")]
    fig, axes = plt.subplots(1, len(labels), figsize=(5 * len(labels), 3.6), sharey=True, squeeze=False)
    for ax, label in zip(axes[0], labels):
        sns.lineplot(
            data=frame[frame["label"] == label],
            x="epoch",
            y="value",
            hue="layer",
            errorbar=ci(frame),
            ax=ax,
            palette="viridis",
        )
        ax.set(xlabel="epoch", ylabel="saturated units (fraction)", title=label, ylim=(-0.02, 1.02))
        ax.legend(fontsize=7, title="layer")
    return _finish(fig, title)


def ranked_comparison(runs: pd.DataFrame, palette: dict):
    """Test accuracy and gradient ratio per run configuration, ranked by accuracy, coloured by group."""
    order = runs.groupby("label")["test_acc"].mean().sort_values(ascending=False).index
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.38 * len(order) + 1.8), sharey=True)
    for ax, col, xlabel, log in (
        (axes[0], "test_acc", "test accuracy (fraction)", False),
        (axes[1], "grad_ratio_first_last", "‖∇W hidden1‖ / ‖∇W output‖ (median over steps)", True),
    ):
        sns.barplot(
            data=runs,
            y="label",
            x=col,
            order=order,
            hue="group",
            palette=palette,
            errorbar=ci(runs),
            ax=ax,
            dodge=False,
            legend=ax is axes[0],
        )
        if log:
            ax.set_xscale("log")
            ax.axvline(1.0, color="grey", lw=0.8, ls="--")
        ax.set(xlabel=xlabel, ylabel="run" if ax is axes[0] else "")
    axes[0].legend(fontsize=7, loc="lower right")
    return _finish(fig, "All runs ranked by test accuracy")


def lr_depth(runs: pd.DataFrame):
    """Final test accuracy against depth for each baseline learning rate."""
    frame = runs[runs["group"] == BASELINE]
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(
        data=frame,
        x="depth",
        y="test_acc",
        hue="lr",
        marker="o",
        errorbar=ci(frame),
        ax=ax,
        palette="rocket",
        legend="full",
    )
    ax.set(xlabel="hidden layers", ylabel="test accuracy (fraction)", xticks=sorted(frame["depth"].unique()))
    ax.axhline(0.1, color="grey", ls="--", lw=0.8, label="chance (10 classes)")
    ax.legend(title="SGD learning rate", fontsize=8)
    return _finish(fig, "Baselines: test accuracy against depth, per learning rate")


def cost(runs: pd.DataFrame, palette: dict):
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.38 * runs["label"].nunique() + 1.8), sharey=True)
    for ax, col, xlabel in (
        (axes[0], "wall_s", "wall time of the job (s)"),
        (axes[1], "max_rss_mb", "peak resident memory (MB)"),
    ):
        sns.barplot(
            data=runs,
            y="label",
            x=col,
            hue="group",
            palette=palette,
            errorbar=ci(runs),
            ax=ax,
            dodge=False,
            legend=False,
        )
        ax.set(xlabel=xlabel, ylabel="run" if ax is axes[0] else "")
    return _finish(fig, "Cost of each training job (Snakemake benchmark)")


# -------------------------------------------------------------------------------------- conclusions
def _fmt_pct(x):
    return f"{100 * x:.1f}%"


def mean_grad_norm(grad_epochs: pd.DataFrame, label: str, layer: str) -> float:
    frame = grad_epochs[
        (grad_epochs["label"] == label) & (grad_epochs["layer"] == layer) & (grad_epochs["statistic"] == "grad_norm")
    ]
    return float(frame["value"].mean())


def problem_sentences(runs: pd.DataFrame) -> list[str]:
    """What the baselines show, in words, from the numbers."""
    base = (
        runs[runs["group"] == BASELINE]
        .groupby(["variant", "depth"], as_index=False)[["test_acc", "grad_ratio_first_last"]]
        .mean()
    )
    out = []
    for row in base.itertuples():
        learned = (
            "learned"
            if row.test_acc > 0.5
            else ("barely learned" if row.test_acc > 0.2 else "did not learn (chance is 10%)")
        )
        out.append(
            f"With {row.depth} hidden layers ({row.variant}) the sigmoid MLP {learned}: test accuracy "
            f"{_fmt_pct(row.test_acc)}; layer 1's gradient norm was {row.grad_ratio_first_last:.2g} times "
            f"the output layer's."
        )
    return out


def fix_sentences(runs: pd.DataFrame, grad_epochs: pd.DataFrame, group: str) -> list[str]:
    """How each variant of ``group`` compares with the sigmoid baseline at the same depth."""
    out = []
    fix_runs = runs[runs["group"] == group]
    for (variant, depth), frame in fix_runs.groupby(["variant", "depth"]):
        base = runs[
            (runs["group"] == BASELINE)
            & (runs["depth"] == depth)
            & (runs["lr"] == runs.loc[runs["group"] == BASELINE, "lr"].min())
        ]
        label = frame["label"].iloc[0]
        acc = frame["test_acc"].mean()
        text = f"{group}/{variant} at depth {depth}: test accuracy {_fmt_pct(acc)}"
        if frame["diverged"].any():
            text += f" ({int(frame['diverged'].sum())} of {len(frame)} runs diverged)"
        if len(base):
            base_label = base["label"].iloc[0]
            fix_g1 = mean_grad_norm(grad_epochs, label, "hidden1")
            base_g1 = mean_grad_norm(grad_epochs, base_label, "hidden1")
            text += (
                f" against {_fmt_pct(base['test_acc'].mean())} for the baseline; layer 1's mean gradient norm "
                f"{'rose' if fix_g1 >= base_g1 else 'fell'} by a factor of {max(fix_g1, base_g1) / min(fix_g1, base_g1):.3g} "
                f"({base_g1:.2g} → {fix_g1:.2g}), and its hidden1/output ratio is "
                f"{frame['grad_ratio_first_last'].mean():.2g} against {base['grad_ratio_first_last'].mean():.2g}."
            )
        else:
            text += "; no baseline at this depth to compare with."
        out.append(text)
    return out


def saturation_note(activation: str) -> str:
    return SATURATION_DEFINITIONS[activation]


def saturation_sentence(grad_epochs: pd.DataFrame, labels: list[str]) -> str:
    """Were the sigmoid units saturated? The answer decides what explains the vanishing gradient."""
    frame = grad_epochs[grad_epochs["label"].isin(labels) & (grad_epochs["statistic"] == "saturation")]
    if frame.empty:
        return "No saturation was recorded."
    worst = frame.loc[frame["value"].idxmax()]
    text = (
        f"Saturation ({saturation_note('sigmoid')}) reached at most {_fmt_pct(worst['value'])} "
        f"({worst['label']}, {worst['layer']}, epoch {worst['epoch']})."
    )
    if worst["value"] < 0.05:
        text += (
            " The units were not saturated: the gradient shrinks because every sigmoid layer multiplies it "
            "by σ′(x) ≤ 0.25 and by small weights, layer after layer."
        )
    return text


# ------------------------------------------------------------------------------------------ render
def render(
    template: str,
    executed: str,
    html: str,
    tables: dict,
    config: dict | None = None,
    show_code: bool = False,
    figures: dict | None = None,
) -> None:
    """Execute the notebook with papermill (kernel python3), keep it at ``executed``, write ``html``.

    ``figures`` maps figure names (``gradient_profile``, ``comparison``) to PNG paths the notebook also
    writes, for Snakemake's own ``--report``.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from .storage import atomic_path

    Path(executed).parent.mkdir(parents=True, exist_ok=True)
    # The kernel imports this very copy of the library, installed or not.
    src = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    papermill.execute_notebook(
        template,
        executed,
        parameters={"tables": tables, "config": config or {}, "figures": figures or {}},
        kernel_name="python3",
        progress_bar=False,
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
    with atomic_path(html) as tmp:
        tmp.write_text(body)
