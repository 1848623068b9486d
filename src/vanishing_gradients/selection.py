"""Each configuration's learning rate, chosen on validation from the screening runs (torch-free).

The protocol, declared in the config (``selection:``) before any run:

- every configuration (group, variant, depth) is screened at each rate of its optimiser's grid with several
  screening seeds (not the final ones) and a short budget;
- a run's score is its mean validation accuracy over its last ``score_epochs`` epochs (a stable statistic, not
  its luckiest epoch); a run that diverged, or whose score is not finite, scores chance: it is never skipped;
- the rule ``one_se``: the smallest rate whose mean score lies within one standard error of the best mean and
  whose worst seed learned (score >= ``comparison.learned``). Where no rate has every seed learning but some
  seed learned, the rate with the largest share of learning seeds (then the best mean) is taken and the outcome
  is "split"; where no seed of any rate learned, no rate is chosen (outcome "none"): the final runs then train
  at the course's rate, or where ``selection.fallback`` is ``best_score`` at the rate of the best mean score, to
  show with the full budget what the screen saw;
- a choice at an edge of the screened rates is extended outward by ``extend.factor`` and screened again, at
  most ``extend.times`` times (one selection round each); a choice still at an edge after that is flagged.

The test split is never looked at. Every table written carries a digest of its rows, checked when it is read.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd

from . import safe_read
from .layout import RETRAIN, RecordError, read_summary
from .storage import write_table

CONFIG_KEYS = ["group", "variant", "depth"]
COLUMNS = [
    *CONFIG_KEYS,
    "optimizer",
    "lr",  # the rate the final runs train at (where no rate learned: selection.fallback's)
    "outcome",  # learned | split | none | fixed (a one-rate grid, not screened)
    "screen_val_acc",  # the chosen rate's mean score over the screening seeds
    "screen_se",
    "screen_seeds",
    "learned_seeds",  # screening seeds of the chosen rate whose score reached comparison.learned
    "grid",  # every rate screened so far, as JSON
    "at_edge",
    "extend_to",  # the rate the next round screens (NaN: none)
    "round",
    "digest",  # of the row's other values: a table edited by hand is refused when read
]
OUTCOMES = ("learned", "split", "none", "fixed")
REBUILD = "delete it and run snakemake again: it is rebuilt from the screening runs"


class SelectionError(ValueError):
    """A record of the selection that is not what it claims to be; the message names the file and the remedy."""


def rounded(lr: float) -> float:
    """A rate as the protocol writes it: three significant digits (3 x 3 = 9, 0.01 / 3 = 0.00333)."""
    return float(f"{lr:.3g}")


def extensions(grid: list[float], factor: float, times: int) -> list[float]:
    """The rates an extension may add to ``grid``, declared by the config before any run: ``times`` steps of
    ``factor`` beyond each end."""
    low, high, out = min(grid), max(grid), []
    for _ in range(times):
        low, high = rounded(low / factor), rounded(high * factor)
        out += [low, high]
    return sorted(out)


# ------------------------------------------------------------------------------------------- scores
def run_score(metrics: pd.DataFrame, diverged: bool, score_epochs: int, chance: float) -> float:
    """A screening run's score: the mean validation accuracy of its last ``score_epochs`` epochs; chance where
    the run diverged or recorded no finite accuracy."""
    if diverged or metrics.empty or "val_acc" not in metrics:
        return chance
    score = float(metrics["val_acc"].tail(score_epochs).mean())
    return score if math.isfinite(score) else chance


def read_screen(summary_paths: list[str], metrics_paths: list[str], score_epochs: int, chance: float) -> pd.DataFrame:
    """One row per screening run: its configuration, rate, seed, optimiser and score. Each summary is checked
    against the run its path belongs to (a record copied into another run's folder is refused)."""
    rows = []
    for summary_path, metrics_path in zip(summary_paths, metrics_paths, strict=True):
        try:
            summary = read_summary(summary_path, required=("spec", "diverged"))
        except RecordError as err:
            raise SelectionError(str(err)) from None
        try:
            metrics = safe_read.read_table(metrics_path)  # a regular file of bounded size, or an error naming it
            metrics["val_acc"] = pd.to_numeric(metrics["val_acc"], errors="coerce")
        except (OSError, ValueError, KeyError) as err:
            raise SelectionError(f"{metrics_path}: not a run's metrics table ({err}); {RETRAIN}") from None
        run = summary["run"]
        rows.append(
            {
                **{k: run[k] for k in [*CONFIG_KEYS, "lr", "seed"]},
                "optimizer": summary["spec"]["optimizer"],
                "score": run_score(metrics, bool(summary["diverged"]), score_epochs, chance),
            }
        )
    return pd.DataFrame(rows, columns=[*CONFIG_KEYS, "lr", "seed", "optimizer", "score"])


def rate_table(screen: pd.DataFrame, learned: float) -> pd.DataFrame:
    """Per configuration and rate: the mean score over the seeds, its standard error, the worst seed's score and
    how many seeds learned."""
    grouped = screen.groupby([*CONFIG_KEYS, "lr"], sort=True)["score"]
    table = grouped.agg(mean="mean", sd="std", seeds="count", worst="min").reset_index()
    table["learned_seeds"] = grouped.apply(lambda s: int((s >= learned).sum())).to_numpy()
    table["se"] = (table["sd"] / np.sqrt(table["seeds"])).fillna(0.0)
    return table.drop(columns="sd")


# ------------------------------------------------------------------------------------------- the rule
def choose_rate(rates: pd.DataFrame, learned: float) -> tuple[float | None, str]:
    """The rule ``one_se`` on one configuration's rows of ``rate_table``: (rate, outcome)."""
    rates = rates.sort_values("lr")
    best = rates.loc[rates["mean"].idxmax()]
    stable = rates[(rates["worst"] >= learned) & (rates["mean"] >= best["mean"] - best["se"])]
    if len(stable):
        return float(stable["lr"].iloc[0]), "learned"
    if rates["learned_seeds"].max() > 0:
        share = rates["learned_seeds"] / rates["seeds"]
        ranked = rates.assign(share=share).sort_values(["share", "mean", "lr"], ascending=[False, False, True])
        return float(ranked["lr"].iloc[0]), "split"
    return None, "none"


def choose(
    screen: pd.DataFrame,
    *,
    learned: float,
    course: dict,
    factor: float,
    times: int,
    round_: int,
    fallback: str = "course",
) -> pd.DataFrame:
    """The choice of every screened configuration (``COLUMNS``). Where no rate learned, ``fallback`` says which is
    trained: ``course``, the configuration's course rate (from ``course``); ``best_score``, the rate of the best
    mean score, the smallest of equals. ``round_``: this selection round (0: the declared grid)."""
    out = []
    for keys, rates in rate_table(screen, learned).groupby(CONFIG_KEYS, sort=False):
        grid = sorted(float(lr) for lr in rates["lr"])
        lr, outcome = choose_rate(rates, learned)
        at_edge = lr is not None and len(grid) > 1 and lr in (grid[0], grid[-1])
        extend_to = math.nan
        if at_edge and round_ < times:
            extend_to = rounded(lr * factor) if lr == grid[-1] else rounded(lr / factor)
        chosen = rates[rates["lr"] == lr].iloc[0] if lr is not None else None
        config = dict(zip(CONFIG_KEYS, keys, strict=True))
        out.append(
            {
                **config,
                "optimizer": screen.loc[(screen[CONFIG_KEYS] == list(keys)).all(axis=1), "optimizer"].iloc[0],
                "lr": lr if lr is not None else _fallback(rates, course[tuple(keys)], fallback),
                "outcome": outcome,
                "screen_val_acc": float(chosen["mean"]) if chosen is not None else float(rates["mean"].max()),
                "screen_se": float(chosen["se"]) if chosen is not None else math.nan,
                "screen_seeds": int(rates["seeds"].max()),
                "learned_seeds": int(chosen["learned_seeds"]) if chosen is not None else 0,
                "grid": json.dumps(grid),
                "at_edge": bool(at_edge),
                "extend_to": extend_to,
                "round": round_,
            }
        )
    return _with_digest(pd.DataFrame(out, columns=COLUMNS[:-1]))


def _fallback(rates: pd.DataFrame, course_rate: float, fallback: str) -> float:
    """The rate trained where no rate learned (``selection.fallback``)."""
    if fallback == "course":
        return course_rate
    ordered = rates.sort_values("lr")
    return float(ordered.loc[ordered["mean"].idxmax(), "lr"])  # idxmax: the first, so the smallest of equals


def fixed(rows: list[dict], round_: int) -> pd.DataFrame:
    """Configurations whose grid holds one rate: that rate, without a screen."""
    table = pd.DataFrame(rows, columns=[*CONFIG_KEYS, "optimizer", "lr"])
    table = table.assign(
        outcome="fixed",
        screen_val_acc=math.nan,
        screen_se=math.nan,
        screen_seeds=0,
        learned_seeds=0,
        grid=[json.dumps([lr]) for lr in table["lr"]],
        at_edge=False,
        extend_to=math.nan,
        round=round_,
    )
    return _with_digest(table[COLUMNS[:-1]])


def _row_digest(row: dict) -> str:
    values = {k: row[k] for k in COLUMNS[:-1]}
    text = json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()},
                      sort_keys=True, default=float)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _with_digest(table: pd.DataFrame) -> pd.DataFrame:
    table = table.astype({"depth": int, "screen_seeds": int, "learned_seeds": int, "round": int, "at_edge": bool})
    table["digest"] = [_row_digest(row) for row in table.to_dict("records")]
    return table


def select(
    summary_paths: list[str],
    metrics_paths: list[str],
    out_path: str,
    protocol: dict,
    fixed_rates: list[dict] = (),
) -> pd.DataFrame:
    """Read the screening runs, choose every configuration's rate, write the table (atomically).

    ``protocol``: ``score_epochs``, ``learned``, ``chance``, ``factor``, ``times``, ``round``, ``fallback`` and
    ``course`` (``[[group, variant, depth, lr], ...]``). ``fixed_rates``: the configurations that need no screen."""
    screen = read_screen(summary_paths, metrics_paths, protocol["score_epochs"], protocol["chance"])
    course = {(g, v, int(d)): float(lr) for g, v, d, lr in protocol["course"]}
    parts = [fixed(list(fixed_rates), protocol["round"])]
    if len(screen):
        kwargs = {k: protocol[k] for k in ("learned", "factor", "times")} | {
            "fallback": protocol.get("fallback", "course")
        }
        parts.insert(0, choose(screen, course=course, round_=protocol["round"], **kwargs))
    chosen = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
    chosen = chosen if chosen is not None else pd.DataFrame(columns=COLUMNS)
    write_table(out_path, chosen)
    return chosen


# ------------------------------------------------------------------------------------------- reading
def read_table(path, expected: dict[tuple[str, str, int], list[float]] | None = None) -> pd.DataFrame:
    """A selection table, checked: readable, its columns, each row's digest (no hand edits), and, given
    ``expected`` (every configuration of the study with the rates its path may name), one row per configuration
    and a rate it may train at. Every problem is a ``SelectionError`` naming the file and the remedy."""
    try:
        table = safe_read.read_table(path, limit=16 * safe_read.MiB)
    except (OSError, ValueError) as err:
        raise SelectionError(f"{path}: not a readable rate table ({type(err).__name__}: {err}); {REBUILD}") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise SelectionError(f"{path}: the rate table lacks the columns {missing}; {REBUILD}")
    for row in table.to_dict("records"):
        row["grid"] = str(row["grid"])
        try:
            row = {**row, "depth": int(row["depth"]), "screen_seeds": int(row["screen_seeds"]),
                   "learned_seeds": int(row["learned_seeds"]), "round": int(row["round"]),
                   "at_edge": bool(row["at_edge"]), "lr": float(row["lr"])}  # fmt: skip
        except (TypeError, ValueError) as err:
            raise SelectionError(f"{path}: a row of the rate table is damaged ({err}); {REBUILD}") from None
        if row["digest"] != _row_digest(row):
            raise SelectionError(
                f"{path}: the row of {row['group']}/{row['variant']} depth {row['depth']} does not match its digest "
                f"(edited by hand?). The rate is chosen by the protocol, not by hand: {REBUILD}; to train another "
                "rate, change selection.learning_rates in the config"
            )
    keys = list(zip(table["group"], table["variant"], table["depth"].astype(int), strict=True))
    if len(set(keys)) != len(keys):
        raise SelectionError(f"{path}: a configuration has two rows; {REBUILD}")
    if expected is not None:
        if set(keys) != set(expected):
            extra, absent = sorted(set(keys) - set(expected)), sorted(set(expected) - set(keys))
            raise SelectionError(
                f"{path}: the rate table's configurations are not this study's (not in the study: {extra}; "
                f"missing: {absent}); {REBUILD}"
            )
        for key, lr in zip(keys, table["lr"], strict=True):
            if not (math.isfinite(lr) and any(math.isclose(lr, r, rel_tol=1e-9) for r in expected[key])):
                raise SelectionError(
                    f"{path}: {key[0]}/{key[1]} depth {key[2]} has the rate {lr}, which is not one the config "
                    f"declares for it ({expected[key]}); {REBUILD}"
                )
    return table


def read(path, expected=None) -> dict[tuple[str, str, int], float]:
    """The chosen rates, by configuration: ``{(group, variant, depth): lr}`` (checked: ``read_table``)."""
    table = read_table(path, expected)
    return {(r.group, r.variant, int(r.depth)): float(r.lr) for r in table.itertuples()}


def screened(path, expected=None) -> dict[tuple[str, str, int], list[float]]:
    """The rates each configuration screens in the round after this table's: its grid and its extension."""
    out = {}
    for r in read_table(path, expected).itertuples():
        rates = json.loads(r.grid) if r.outcome != "fixed" else []
        if isinstance(r.extend_to, float) and math.isfinite(r.extend_to):
            rates = sorted([*rates, float(r.extend_to)])
        out[(r.group, r.variant, int(r.depth))] = rates
    return out


def describe(row) -> str:
    """One line of the log per configuration: what the round chose and why."""
    where = f"{row.group}/{row.variant} depth {row.depth}"
    if row.outcome == "fixed":
        return f"{where}: lr {row.lr:g} (one rate declared, not screened)"
    if row.outcome == "none":
        best = f"best mean score {row.screen_val_acc:.3f}"
        return f"{where}: no rate of the grid learns ({best}); trained at lr {row.lr:g} (selection.fallback)"
    text = f"{where}: lr {row.lr:g}, mean score {row.screen_val_acc:.4f} +- {row.screen_se:.4f} (SE)"
    text += f", {row.learned_seeds} of {row.screen_seeds} seeds learned" + (
        " (split)" if row.outcome == "split" else ""
    )
    if row.at_edge:
        extend = row.extend_to
        text += (
            f"; at the grid's edge: next round screens {extend:g}"
            if math.isfinite(extend)
            else "; at the grid's edge (no extension left)"
        )
    return text
