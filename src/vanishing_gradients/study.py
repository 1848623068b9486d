"""The study's config turned into runs: which runs exist and their exact settings (torch-free).

A run is a ``layout.RunId``: (study, dataset, phase, group, variant, lr, depth, seed). ``group`` is
``baseline`` or a fix name; the baseline's one variant is ``sigmoid``; a fix variant is a named set of
overrides of ``training`` in the config. A configuration (group, variant, depth) is screened at every rate of
its optimiser's grid (phase ``screen``), then trained at the chosen rate (phase ``runs``). ``validate_config``
(module ``validation``, which builds on this one) checks a config before any job starts.
"""

from __future__ import annotations

import json
import re

from . import datasets, specs
from .errors import ConfigError
from .layout import RunId, StudyLayout, lr_name
from .selection import extensions

BASELINE = "baseline"
BASELINE_VARIANT = "sigmoid"  # the course's baseline: sigmoid, SGD, PyTorch's default init
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SCREEN, FINAL = "screen", "runs"  # the two phases of a study: learning-rate screening, then the final runs


def study_layout(config: dict) -> StudyLayout:
    """Where the files of the config's study live (``layout.StudyLayout``), named after its dataset."""
    return StudyLayout(config["study"], datasets.of(config).name)


def rule_name(group: str, phase: str = FINAL) -> str:
    """The Snakemake rule that trains a group's runs: ``train_baseline`` or ``fix_<name>``; their learning-rate
    screening: ``screen_baseline`` or ``screen_<name>``."""
    if phase == SCREEN:
        return f"screen_{group}"
    return "train_baseline" if group == BASELINE else f"fix_{group}"


def variant_settings(config: dict, group: str, variant: str) -> dict:
    """The training settings of a variant: ``training`` defaults with the variant's overrides on top."""
    settings = dict(config["training"])
    if group == BASELINE:
        if variant != BASELINE_VARIANT:
            raise ConfigError(f"the baseline has one variant, {BASELINE_VARIANT!r}, not {variant!r}")
    else:
        settings.update(config["fixes"][group]["variants"][variant])
    return settings


def course_lr(config: dict, group: str, variant: str) -> float:
    """The learning rate the course's exercise trains a configuration at (``training.lr`` or the variant's)."""
    return float(variant_settings(config, group, variant)["lr"])


def grid(config: dict, group: str, variant: str) -> list[float]:
    """The declared learning rates a configuration is screened at: those of its optimiser."""
    optimizer = variant_settings(config, group, variant)["optimizer"]
    return [float(lr) for lr in config["selection"]["learning_rates"][optimizer]]


def declared_rates(config: dict, group: str, variant: str) -> list[float]:
    """Every rate the protocol may screen or train a configuration at, declared before any run: its grid, the
    grid's pre-declared extensions (``selection.extend``) and its course rate."""
    rates, extend = grid(config, group, variant), config["selection"]["extend"]
    if len(rates) > 1:
        rates = rates + extensions(rates, extend["factor"], extend["times"])
    return sorted({*rates, course_lr(config, group, variant)})


def learning_rates(config: dict, group: str, variant: str) -> dict[str, float]:
    """Every rate a configuration may be trained at (``declared_rates``), by their name in paths."""
    return {lr_name(lr): lr for lr in declared_rates(config, group, variant)}


def lr_of(config: dict, group: str, variant: str, name: str) -> float:
    """The configured rate a path's ``lr`` part names (the exact float, not one parsed back from text)."""
    rates = learning_rates(config, group, variant)
    if name not in rates:
        raise ConfigError(f"{group}/{variant}: learning rate {name!r} is not one of {sorted(rates)}")
    return rates[name]


def tiled(settings: dict, depth: int) -> dict:
    """A variant's settings at any depth: its skips and schedule, written for one depth, repeat with that period.

    The course writes skips (1, 3), (4, 7) and blocks 2, 2, 2, 1 for 7 hidden layers; at 30 layers they become
    (1, 3), (4, 7), (8, 10), (11, 14), ... and blocks 2, 2, 2, 1, 2, 2, 2, 1, ... cut at the depth.
    """
    out = dict(settings)
    skips = [tuple(pair) for pair in settings.get("skips") or []]
    if skips:
        period = max(target for _, target in skips)
        out["skips"] = [[s + k, t + k] for k in range(0, depth, period) for s, t in skips if t + k <= depth]
    if settings.get("schedule"):
        blocks, total = [], 0
        while total < depth:
            for size in settings["schedule"]:
                size = min(size, depth - total)
                if size:
                    blocks.append(size)
                    total += size
        out["schedule"] = blocks
    return out


def train_spec(config: dict, phase: str, group: str, variant: str, lr: float, depth: int, seed: int) -> specs.TrainSpec:
    """A run's settings: the variant's, at rate ``lr``; a screening run takes the screen's epochs and patience.
    The model's input and output sizes are the dataset's."""
    settings = {**tiled(variant_settings(config, group, variant), depth), "lr": float(lr)}
    if phase == SCREEN:
        screen = config["selection"]
        settings.update(epochs=screen["epochs"], patience=screen["patience"])
    return specs.from_settings(settings, int(depth), int(seed), **datasets.of(config).model_shape())


def spec_of(config: dict, run: RunId) -> specs.TrainSpec:
    return train_spec(config, run.phase, run.group, run.variant, run.lr, run.depth, run.seed)


def spec_param(config: dict, run: RunId) -> str:
    """The run's settings as sorted JSON: a plain string param, so Snakemake reruns exactly changed runs."""
    return specs.to_param(spec_of(config, run))


def data_param(config: dict, files: dict, code: str) -> str:
    """What a study's prepared data is, as sorted JSON (the ``data`` param of every rule that reads it): the raw
    files' content checksums (its dataset record's ``files``), the split settings and the hash of the code that
    prepares it. The same of all of these prepares the same data, so a run reruns exactly when its data would
    change; the mirror list is not part of it (every file is checked by content, whichever mirror served it)."""
    data = config["data"]
    raw = {name: checksum for name, (checksum, _shape) in files.items()}
    keys = ("validation_size", "split_seed", "subset")
    return json.dumps({"raw": raw, **{k: data[k] for k in keys}, "code": code}, sort_keys=True)


def report_param(config: dict) -> str:
    """The config the report shows, as sorted JSON: without the mirror list, which changes no number (editing it
    must not rerun the report either)."""
    shown = {**config, "data": {k: v for k, v in config["data"].items() if k != "mirrors"}}
    return json.dumps(shown, sort_keys=True)


def groups(config: dict) -> list[str]:
    return [BASELINE, *config.get("fixes", {})]


def variants(config: dict, group: str) -> list[str]:
    return [BASELINE_VARIANT] if group == BASELINE else list(config["fixes"][group]["variants"])


def depths(config: dict, group: str, variant: str | None = None) -> list[int]:
    """The depths a group trains at; a variant's own (``fixes.<fix>.variant_depths``) where it has them."""
    if group == BASELINE:
        return list(config["baseline"]["depths"])
    entry = config["fixes"][group]
    return list((entry.get("variant_depths") or {}).get(variant, entry["depths"]))


def configurations(config: dict, group: str | None = None) -> list[tuple[str, str, int]]:
    """Every (group, variant, depth) the study trains (of one group if given), in a stable order."""
    return [
        (g, v, int(d))
        for g in (groups(config) if group is None else [group])
        for v in variants(config, g)
        for d in depths(config, g, v)
    ]


def screened_rates(config: dict) -> dict[tuple[str, str, int], list[float]]:
    """The rates of the first selection round: every configuration whose grid holds more than one rate, at each.
    (A configuration whose grid holds one rate needs no screen: ``fixed_rates``.)"""
    return {(g, v, d): grid(config, g, v) for g, v, d in configurations(config) if len(grid(config, g, v)) > 1}


def screening_runs(
    config: dict, group: str | None = None, rates: dict[tuple[str, str, int], list[float]] | None = None
) -> list[RunId]:
    """Every screened configuration at each of its rates (default: ``screened_rates``; a later selection round
    adds its extensions), with the screen's seeds and budget."""
    where, rates = study_layout(config), screened_rates(config) if rates is None else rates
    return [
        where.run(SCREEN, g, v, lr, d, int(s))
        for g, v, d in configurations(config, group)
        for lr in rates.get((g, v, d), [])
        for s in config["selection"]["seeds"]
    ]


def selection_param(config: dict) -> str:
    """The protocol of the rate choice, as sorted JSON (the selection rule's param; ``selection.select``)."""
    screen = config["selection"]
    return json.dumps(
        {
            "score_epochs": screen["score_epochs"],
            "learned": config["comparison"]["learned"],
            "chance": 1 / datasets.of(config).num_classes,
            "factor": screen["extend"]["factor"],
            "times": screen["extend"]["times"],
            "fallback": screen["fallback"],
            "course": [[g, v, d, course_lr(config, g, v)] for g, v, d in configurations(config)],
        },
        sort_keys=True,
    )


def fixed_rates(config: dict) -> str:
    """The configurations with a one-rate grid and that rate, as sorted JSON (the selection rule's param)."""
    rows = [
        {
            "group": g,
            "variant": v,
            "depth": d,
            "lr": grid(config, g, v)[0],
            "optimizer": variant_settings(config, g, v)["optimizer"],
        }
        for g, v, d in configurations(config)
        if len(grid(config, g, v)) == 1
    ]
    return json.dumps(rows, sort_keys=True)


def final_runs(config: dict, chosen: dict[tuple[str, str, int], float], group: str | None = None) -> list[RunId]:
    """The full-budget runs, given each configuration's chosen rate (``selection.read``): every configuration at
    its chosen rate with every seed; at its course rate with ``selection.course_seeds``; the configurations of
    ``selection.check`` at every rate of their grid with the first screening seed. Each run once, in a stable
    order."""
    where, screen = study_layout(config), config["selection"]
    checked = {(c["group"], c["variant"], int(c["depth"])) for c in screen["check"]}
    out: dict[RunId, None] = {}
    for g, v, d in configurations(config, group):
        wanted = [(chosen[(g, v, d)], s) for s in config["seeds"]]
        wanted += [(course_lr(config, g, v), s) for s in screen["course_seeds"]]
        if (g, v, d) in checked:
            wanted += [(lr, screen["seeds"][0]) for lr in grid(config, g, v)]
        out.update({where.run(FINAL, g, v, lr, d, int(s)): None for lr, s in wanted})
    return list(out)


def expected_rates(config: dict) -> dict[tuple[str, str, int], list[float]]:
    """Every configuration with the rates a rate table may give it (to check a table read back)."""
    return {(g, v, d): declared_rates(config, g, v) for g, v, d in configurations(config)}


def provisional_choice(config: dict) -> dict[tuple[str, str, int], float]:
    """A choice known before any screen: a one-rate grid's rate, else the course's rate. The workflow plans a study
    that screens nothing with it (its final runs listed up front); the tests plan a study with it."""
    return {
        (g, v, d): grid(config, g, v)[0] if len(grid(config, g, v)) == 1 else course_lr(config, g, v)
        for g, v, d in configurations(config)
    }


# ------------------------------------------------------------------------------ init flow (no training)
def init_flow_variants(config: dict) -> list[tuple[str, str]]:
    """(group, variant) of every configuration measured at initialisation: the baseline (its first learning
    rate: the rate does not change a gradient) and every fix variant."""
    return [(BASELINE, variants(config, BASELINE)[0])] + [
        (g, v) for g in groups(config) if g != BASELINE for v in variants(config, g)
    ]


def init_flow_specs(config: dict) -> list[tuple[str, str, specs.TrainSpec]]:
    """(group, variant, spec) for every configuration and depth of ``init_flow`` (the seeds are its own)."""
    out, shape = [], datasets.of(config).model_shape()
    for group, variant in init_flow_variants(config):
        settings = variant_settings(config, group, variant)
        for depth in config["init_flow"]["depths"]:
            out.append((group, variant, specs.from_settings(tiled(settings, depth), depth, seed=0, **shape)))
    return out


def init_flow_param(config: dict) -> str:
    """Everything the init-flow rule computes from, as sorted JSON (its rerun trigger)."""
    return json.dumps(
        {
            "specs": [[g, v, specs.to_param(s)] for g, v, s in init_flow_specs(config)],
            "seeds": config["init_flow"]["seeds"],
            "batches": config["init_flow"]["batches"],
        },
        sort_keys=True,
    )


# ------------------------------------------------------------------------------------ what a study trains
def drop_removed(config: dict) -> None:
    """An overlay removes a fix or a variant by setting it to null (Snakemake merges overlays key by key, so it
    cannot delete a key otherwise): ``fixes: {combined: null}``."""
    fixes = config.get("fixes")
    if not isinstance(fixes, dict):
        return
    for fix, entry in list(fixes.items()):
        if entry is None:
            del fixes[fix]
        elif isinstance(entry, dict) and isinstance(entry.get("variants"), dict):
            removed = {name for name, v in entry["variants"].items() if v is None}
            entry["variants"] = {name: v for name, v in entry["variants"].items() if v is not None}
            if isinstance(entry.get("variant_depths"), dict):  # a removed variant's depths go with it
                entry["variant_depths"] = {v: d for v, d in entry["variant_depths"].items() if v not in removed}


def _keep_variant_depths(entry: dict) -> None:
    """Forget the ``variant_depths`` of variants a study does not train (removed, or not named by ``train_fixes``)."""
    if isinstance(entry.get("variant_depths"), dict) and isinstance(entry.get("variants"), dict):
        entry["variant_depths"] = {v: d for v, d in entry["variant_depths"].items() if v in entry["variants"]}


def select_fixes(config: dict) -> None:
    """Keep, of ``fixes:``, what ``train_fixes`` names (``all``: everything; a fix named with null: not trained, as an
    overlay merged over another's mapping says it), in ``fixes:``'s order. A name that is not a fix or not one of its
    variants is refused with the names there are."""
    chosen = config.get("train_fixes", "all")
    if chosen == "all":
        return
    chosen = {fix: variants for fix, variants in chosen.items() if variants is not None}
    fixes = config["fixes"]
    for fix, variants in chosen.items():
        if fix not in fixes:
            raise ConfigError(
                f"config key `train_fixes.{fix}`: no fix {fix!r} in `fixes:` (there are {', '.join(fixes) or 'none'}); "
                "name one of them, or define the fix under `fixes:`"
            )
        unknown = [v for v in ([] if variants == "all" else variants) if v not in fixes[fix]["variants"]]
        if unknown:
            raise ConfigError(
                f"config key `train_fixes.{fix}`: no variant {unknown[0]!r} of fix {fix!r} (it has "
                f"{', '.join(fixes[fix]['variants'])}); name one of them, or write `all`"
            )
    config["fixes"] = {
        fix: entry
        | {"variants": {v: s for v, s in entry["variants"].items() if chosen[fix] == "all" or v in chosen[fix]}}
        for fix, entry in fixes.items()
        if fix in chosen
    }
    for entry in config["fixes"].values():
        _keep_variant_depths(entry)
