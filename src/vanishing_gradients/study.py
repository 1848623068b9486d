"""The study's config turned into runs: which runs exist, where they live, and their exact settings.

A run is (group, variant, depth, seed). ``group`` is ``baseline`` or a fix name; a baseline variant is one
learning rate (``lr0.01``); a fix variant is a named set of overrides of ``training`` in the config.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from .specs import ModelSpec, TrainSpec, stages

BASELINE = "baseline"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MODEL_KEYS = ("width", "activation", "init", "init_std", "norm", "skips", "grad_norm")
TRAIN_KEYS = ("optimizer", "lr", "batch_size", "epochs", "schedule", "step_every")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key, the value and what is allowed."""


@dataclass(frozen=True)
class Run:
    group: str
    variant: str
    depth: int
    seed: int

    @property
    def path(self) -> str:
        return f"{self.group}/{self.variant}/depth{self.depth}/seed{self.seed}"


def baseline_variant(lr: float) -> str:
    return f"lr{lr:g}"


def variant_settings(config: dict, group: str, variant: str) -> dict:
    """The training settings of a variant: ``training`` defaults with the variant's overrides on top."""
    settings = dict(config["training"])
    if group == BASELINE:
        lrs = {baseline_variant(lr): lr for lr in config["baseline"]["learning_rates"]}
        if variant not in lrs:
            raise ConfigError(f"baseline variant {variant!r} is not one of {sorted(lrs)}")
        settings["lr"] = lrs[variant]
    else:
        settings.update(config["fixes"][group]["variants"][variant])
    return settings


def train_spec(config: dict, group: str, variant: str, depth: int, seed: int) -> TrainSpec:
    s = variant_settings(config, group, variant)
    model = ModelSpec(
        depth=int(depth),
        width=s["width"],
        activation=s["activation"],
        init=s["init"],
        init_std=s.get("init_std"),
        norm=s["norm"],
        skips=tuple(tuple(pair) for pair in s.get("skips") or ()),
        grad_norm=bool(s.get("grad_norm", False)),
    )
    schedule = s.get("schedule")
    return TrainSpec(
        model=model,
        optimizer=s["optimizer"],
        lr=float(s["lr"]),
        batch_size=int(s["batch_size"]),
        epochs=int(s["epochs"]),
        seed=int(seed),
        schedule=tuple(schedule) if schedule else None,
        step_every=int(s["step_every"]),
    )


def total_epochs(spec: TrainSpec) -> int:
    """Epochs over all train-some-layers stages (``epochs`` is per stage)."""
    return len(stages(spec)) * spec.epochs


def spec_param(config: dict, group: str, variant: str, depth, seed) -> str:
    """The run's settings as sorted JSON: a plain string param, so Snakemake reruns exactly changed runs."""
    return json.dumps(asdict(train_spec(config, group, variant, int(depth), int(seed))), sort_keys=True)


def spec_from_param(text: str) -> TrainSpec:
    raw = json.loads(text)
    model = raw.pop("model")
    model["skips"] = tuple(tuple(p) for p in model["skips"])
    if raw["schedule"] is not None:
        raw["schedule"] = tuple(raw["schedule"])
    return TrainSpec(model=ModelSpec(**model), **raw)


def groups(config: dict) -> list[str]:
    return [BASELINE, *config.get("fixes", {})]


def runs(config: dict, group: str | None = None) -> list[Run]:
    """Every run the config asks for (of one group if given), in a stable order."""
    out = []
    for g in groups(config) if group is None else [group]:
        if g == BASELINE:
            variants = [baseline_variant(lr) for lr in config["baseline"]["learning_rates"]]
            depths = config["baseline"]["depths"]
        else:
            variants = list(config["fixes"][g]["variants"])
            depths = config["fixes"][g]["depths"]
        out += [Run(g, v, int(d), int(s)) for v in variants for d in depths for s in config["seeds"]]
    return out


def check_study(config: dict) -> None:
    """Cross-field checks the schema cannot express; raises ConfigError naming the key and the fix."""
    if not config.get("seeds"):
        raise ConfigError("seeds: the list is empty; give at least one seed, e.g. seeds: [42]")
    if len(set(config["seeds"])) != len(config["seeds"]):
        raise ConfigError(f"seeds: {config['seeds']} lists a seed twice; list each seed once")
    lrs = config["baseline"]["learning_rates"]
    if len({baseline_variant(lr) for lr in lrs}) != len(lrs):
        raise ConfigError(f"baseline.learning_rates: {lrs} lists a learning rate twice")
    for fix, entry in config.get("fixes", {}).items():
        if fix == BASELINE or not NAME.match(fix):
            raise ConfigError(f"fixes.{fix}: a fix name must be letters, digits, '_', '.', '-' and not 'baseline'")
        if not entry.get("variants"):
            raise ConfigError(f"fixes.{fix}.variants: empty; give at least one variant or remove the fix")
        for variant in entry["variants"]:
            if not NAME.match(str(variant)):
                raise ConfigError(f"fixes.{fix}.variants.{variant}: names must be letters, digits, '_', '.', '-'")
    for run in runs(config):
        key = "baseline" if run.group == BASELINE else f"fixes.{run.group}.variants.{run.variant}"
        try:
            train_spec(config, run.group, run.variant, run.depth, run.seed)
        except (ValueError, TypeError, KeyError) as err:
            raise ConfigError(f"{key} at depth {run.depth}: {err}") from None


def validate_config(config: dict, schema_path: str) -> dict:
    """Check ``config`` against the JSON schema (filling in defaults), then the cross-field rules.

    Raises ConfigError naming the key, the bad value and what is allowed. Returns ``config``.
    """
    import jsonschema
    import yaml

    schema = yaml.safe_load(open(schema_path))
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, json.loads(json.dumps(sub["default"])))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    validator = jsonschema.validators.extend(base, {"properties": set_defaults})(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        error = errors[0]
        key = ".".join(map(str, error.absolute_path)) or "(top level)"
        raise ConfigError(f"config key `{key}`: {error.message} (schema: {schema_path})")
    check_study(config)
    return config
