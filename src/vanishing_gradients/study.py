"""The study's config turned into runs: which runs exist and their exact settings (torch-free).

A run is a ``layout.RunId``: (study, dataset, group, variant, depth, seed). ``group`` is ``baseline`` or a
fix name; a baseline variant is one learning rate (``lr0.01``); a fix variant is a named set of overrides
of ``training`` in the config. ``validate_config`` checks a config before any job starts.
"""

from __future__ import annotations

import json
import math
import re

from . import specs
from .layout import RESERVED_STUDY_NAMES, RunId, StudyLayout, lr_name

BASELINE = "baseline"
BASELINE_VARIANT = "sigmoid"  # the course's baseline: sigmoid, SGD, PyTorch's default init
DATASET = "fashion_mnist"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SCREEN, FINAL = "screen", "runs"  # the two phases of a study: learning-rate screening, then the final runs


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key, the value and what is allowed."""


def layout(config: dict) -> StudyLayout:
    return StudyLayout(config["study"], DATASET)


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


def learning_rates(config: dict, group: str, variant: str) -> dict[str, float]:
    """Every rate a configuration may be trained at (its grid and its course rate), by their name in paths."""
    rates = [*grid(config, group, variant), course_lr(config, group, variant)]
    return {lr_name(lr): lr for lr in rates}


def lr_of(config: dict, group: str, variant: str, name: str) -> float:
    """The configured rate a path's ``lr`` part names (the exact float, not one parsed back from text)."""
    rates = learning_rates(config, group, variant)
    if name not in rates:
        raise ConfigError(f"{group}/{variant}: learning rate {name!r} is not one of {sorted(rates)}")
    return rates[name]


def train_spec(config: dict, phase: str, group: str, variant: str, lr: float, depth: int, seed: int) -> specs.TrainSpec:
    """A run's settings: the variant's, at rate ``lr``; a screening run takes the screen's epochs and patience."""
    settings = {**variant_settings(config, group, variant), "lr": float(lr)}
    if phase == SCREEN:
        screen = config["selection"]
        settings.update(epochs=screen["epochs"], patience=screen["patience"])
    return specs.from_settings(settings, int(depth), int(seed))


def spec_of(config: dict, run: RunId) -> specs.TrainSpec:
    return train_spec(config, run.phase, run.group, run.variant, run.lr, run.depth, run.seed)


def spec_param(config: dict, run: RunId) -> str:
    """The run's settings as sorted JSON: a plain string param, so Snakemake reruns exactly changed runs."""
    return specs.to_param(spec_of(config, run))


def report_param(config: dict) -> str:
    """The config the report shows, as sorted JSON: without the mirror list, which changes no number (editing it
    must not rerun the report either)."""
    shown = {**config, "data": {k: v for k, v in config["data"].items() if k != "mirrors"}}
    return json.dumps(shown, sort_keys=True)


def groups(config: dict) -> list[str]:
    return [BASELINE, *config.get("fixes", {})]


def variants(config: dict, group: str) -> list[str]:
    return [BASELINE_VARIANT] if group == BASELINE else list(config["fixes"][group]["variants"])


def depths(config: dict, group: str) -> list[int]:
    return list(config["baseline"]["depths"] if group == BASELINE else config["fixes"][group]["depths"])


def configurations(config: dict, group: str | None = None) -> list[tuple[str, str, int]]:
    """Every (group, variant, depth) the study trains (of one group if given), in a stable order."""
    return [
        (g, v, int(d))
        for g in (groups(config) if group is None else [group])
        for v in variants(config, g)
        for d in depths(config, g)
    ]


def screening_runs(config: dict, group: str | None = None) -> list[RunId]:
    """Every configuration at every rate of its grid, with the screen's seeds and budget. A configuration whose
    grid holds one rate needs no screen (``fixed_rates``)."""
    where = layout(config)
    return [
        where.run(SCREEN, g, v, lr, d, int(s))
        for g, v, d in configurations(config, group)
        if len(grid(config, g, v)) > 1
        for lr in grid(config, g, v)
        for s in config["selection"]["seeds"]
    ]


def fixed_rates(config: dict) -> str:
    """The configurations with a one-rate grid and that rate, as sorted JSON (the selection rule's param)."""
    rows = [
        {"group": g, "variant": v, "depth": d, "lr": grid(config, g, v)[0], "optimizer": variant_settings(config, g, v)["optimizer"]}
        for g, v, d in configurations(config)
        if len(grid(config, g, v)) == 1
    ]
    return json.dumps(rows, sort_keys=True)


def final_runs(config: dict, chosen: dict[tuple[str, str, int], float], group: str | None = None) -> list[RunId]:
    """The full-budget runs, given each configuration's chosen rate (``selection.read``): every configuration at
    its chosen rate with every seed; at its course rate with ``selection.course_seeds``; the configurations of
    ``selection.check`` at every rate of their grid with the screen's seeds. Each run once, in a stable order."""
    where, screen = layout(config), config["selection"]
    checked = {(c["group"], c["variant"], int(c["depth"])) for c in screen["check"]}
    out: dict[RunId, None] = {}
    for g, v, d in configurations(config, group):
        wanted = [(chosen[(g, v, d)], s) for s in config["seeds"]]
        wanted += [(course_lr(config, g, v), s) for s in screen["course_seeds"]]
        if (g, v, d) in checked:
            wanted += [(lr, s) for lr in grid(config, g, v) for s in screen["seeds"]]
        out.update({where.run(FINAL, g, v, lr, d, int(s)): None for lr, s in wanted})
    return list(out)


# ------------------------------------------------------------------------------------------ checks
def _check_numbers(node, path="") -> None:
    """JSON schema lets NaN and infinity through every range check and counts 128.0 as an integer: refuse both
    here, where the schema cannot."""
    if isinstance(node, dict):
        for key, value in node.items():
            _check_numbers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_numbers(value, f"{path}.{i}")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"config key `{path}`: {node} is not a finite number; give a number such as 0.01")


def check_study(config: dict) -> None:
    """Cross-field checks the schema cannot express; raises ConfigError naming the key and the fix."""
    if config["study"] in RESERVED_STUDY_NAMES:
        raise ConfigError(f"study: {config['study']!r} is reserved for shared files; choose another name")
    if len(set(config["seeds"])) != len(config["seeds"]):
        raise ConfigError(f"seeds: {config['seeds']} lists a seed twice; list each seed once")
    for key in ("seeds", "course_seeds"):
        listed = config["selection"][key]
        if len(set(listed)) != len(listed):
            raise ConfigError(f"selection.{key}: {listed} lists a seed twice; list each seed once")
    for optimizer, rates in config["selection"]["learning_rates"].items():
        names = [lr_name(lr) for lr in rates]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"selection.learning_rates.{optimizer}: {rates} has two rates named alike in paths ({names}); "
                "list each rate once, at most 6 significant digits apart"
            )
    for fix, entry in config.get("fixes", {}).items():
        if fix == BASELINE or not NAME.match(fix):
            raise ConfigError(f"fixes.{fix}: a fix name must be letters, digits, '_', '.', '-' and not 'baseline'")
        for variant in entry["variants"]:
            if not NAME.match(str(variant)):
                raise ConfigError(f"fixes.{fix}.variants.{variant}: names must be letters, digits, '_', '.', '-'")
    known = configurations(config)
    for entry in config["selection"]["check"]:
        if (entry["group"], entry["variant"], entry["depth"]) not in known:
            raise ConfigError(
                f"selection.check: {entry} is not a configuration of this study; give a group (baseline or a fix), "
                "one of its variants and one of its depths"
            )
    for group, variant, depth in known:
        key = "baseline" if group == BASELINE else f"fixes.{group}.variants.{variant}"
        try:
            for phase in (SCREEN, FINAL):
                train_spec(config, phase, group, variant, course_lr(config, group, variant), depth, 0)
        except (ValueError, TypeError, KeyError) as err:
            raise ConfigError(f"{key} at depth {depth}: {err}") from None


def _drop_removed(config: dict) -> None:
    """An overlay removes a fix or a variant by setting it to null (Snakemake merges overlays key by key, so it
    cannot delete a key otherwise): ``fixes: {combined: null}``."""
    fixes = config.get("fixes")
    if not isinstance(fixes, dict):
        return
    for fix, entry in list(fixes.items()):
        if entry is None:
            del fixes[fix]
        elif isinstance(entry, dict) and isinstance(entry.get("variants"), dict):
            entry["variants"] = {name: v for name, v in entry["variants"].items() if v is not None}


NESTED_CONFIG_HINT = (
    "Snakemake's --config passes values inside lists and mappings as strings. Put them in a YAML overlay "
    "instead and pass it with --configfile, e.g. a file my.yaml holding `seeds: [1, 2]` or "
    "`training: {epochs: 5}`, then `snakemake --configfile my.yaml`."
)


def _schema_message(error, schema_path: str) -> str:
    key = ".".join(map(str, error.absolute_path)) or "(top level)"
    text = f"config key `{key}`: {error.message} (schema: {schema_path})"
    if error.validator == "type" and isinstance(error.instance, str) and len(error.absolute_path) > 1:
        text += ". " + NESTED_CONFIG_HINT
    return text


def _strict_types(base):
    """``type: integer`` that refuses 128.0 (JSON schema counts it as an integer)."""

    def is_integer(checker, instance):
        return isinstance(instance, int) and not isinstance(instance, bool)

    return base.TYPE_CHECKER.redefine("integer", is_integer)


def validate_config(config: dict, schema_path: str) -> dict:
    """Check ``config`` against the JSON schema (filling in defaults), then the cross-field rules.

    Raises ConfigError naming the key, the bad value and what is allowed. Returns ``config``.
    """
    import jsonschema
    import yaml

    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, json.loads(json.dumps(sub["default"])))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    validator = jsonschema.validators.extend(base, {"properties": set_defaults}, type_checker=_strict_types(base))
    if isinstance(config.get("baseline"), dict) and "learning_rates" in config["baseline"]:
        raise ConfigError(
            "config key `baseline.learning_rates` was replaced: every configuration, the baseline included, is now "
            "screened at the rates of `selection.learning_rates` (per optimiser) and trained at the best one on "
            "validation. Move the rates there, e.g. `selection: {learning_rates: {sgd: [0.01, 0.1, 1.0]}}`."
        )
    _drop_removed(config)
    _check_numbers(config)
    # The shallowest error first; at one key a missing required key before the keys it makes unexpected.
    errors = sorted(
        validator(schema).iter_errors(config),
        key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)), e.validator != "required"),
    )
    if errors:
        raise ConfigError(_schema_message(errors[0], schema_path))
    for key, value in specs.default_settings().items():  # the spec's defaults are the config's defaults
        config["training"].setdefault(key, value)
    check_study(config)
    return config


# ------------------------------------------------------------------------------ init flow (no training)
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


def init_flow_variants(config: dict) -> list[tuple[str, str]]:
    """(group, variant) of every configuration measured at initialisation: the baseline (its first learning
    rate: the rate does not change a gradient) and every fix variant."""
    return [(BASELINE, variants(config, BASELINE)[0])] + [
        (g, v) for g in groups(config) if g != BASELINE for v in variants(config, g)
    ]


def init_flow_specs(config: dict) -> list[tuple[str, str, specs.TrainSpec]]:
    """(group, variant, spec) for every configuration and depth of ``init_flow`` (the seeds are its own)."""
    out = []
    for group, variant in init_flow_variants(config):
        settings = variant_settings(config, group, variant)
        for depth in config["init_flow"]["depths"]:
            out.append((group, variant, specs.from_settings(tiled(settings, depth), depth, seed=0)))
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
