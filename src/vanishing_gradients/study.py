"""The study's config turned into runs: which runs exist and their exact settings (torch-free).

A run is a ``layout.RunId``: (study, dataset, group, variant, depth, seed). ``group`` is ``baseline`` or a
fix name; a baseline variant is one learning rate (``lr0.01``); a fix variant is a named set of overrides
of ``training`` in the config. ``validate_config`` checks a config before any job starts.
"""

from __future__ import annotations

import decimal
import difflib
import json
import math
import re
import reprlib
from pathlib import Path

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


# ---------------------------------------------------------------------------------------- resources
MIN_TRAIN_MEM_MB = 1500  # the rule's request before it scaled: full-data jobs at width 128 peaked at 810-874 MB
BASE_MEM_MB = 1000  # Python, torch, the libraries and the full dataset, with headroom
BYTES_PER_PARAM = 40  # weights, gradients, Adam's two moments, the update-ratio snapshot, the checkpoint: ~25 measured


def run_mem_mb(spec: specs.TrainSpec, data: dict) -> int:
    """Memory (MB) a training job of ``spec`` needs: its parameters, activations and evaluation passes.

    Measured on one epoch of a 1,024-image subset (peak RSS): width 128 x 7: 770 MB; width 1024 x 7 with Adam:
    966 MB; width 2048 x 7 with Adam: 1,425 MB: about 25 bytes per parameter above the base. Activations: the
    training batch (6 tensors per layer), an evaluation chunk of 2,000 rows (a whole split for ``standardize``,
    whose output depends on the batch) and the per-layer saturation statistics over the validation set.
    """
    model, subset = spec.model, data.get("subset") or {}
    params = model.in_features * model.width + (model.depth - 1) * model.width**2 + model.classes * model.width
    validation = min(subset.get("validation", data["validation_size"]), data["validation_size"])
    train = min(subset.get("train", 60000 - data["validation_size"]), 60000 - data["validation_size"])
    chunk = max(train, validation, subset.get("test", 10000)) if model.norm == "standardize" else 2000
    floats = model.width * (spec.batch_size * model.depth * 6 + chunk * 3 + validation * model.depth)
    need = BASE_MEM_MB + (BYTES_PER_PARAM * params + 4 * floats) / 2**20
    return max(MIN_TRAIN_MEM_MB, math.ceil(need * 1.2 / 100) * 100)


def train_mem_mb(config: dict, phase: str, group: str):
    """Resources function of a training rule: each job's ``mem_mb`` from its run's width, depth and batch."""

    def mem_mb(wildcards) -> int:
        lr = lr_of(config, group, wildcards.variant, wildcards.lr)
        spec = train_spec(config, phase, group, wildcards.variant, lr, int(wildcards.depth), int(wildcards.seed))
        return run_mem_mb(spec, config["data"])

    return mem_mb


# ------------------------------------------------------------------------------------------ checks
MAX_CONFIG_VALUES = 100_000  # values in the whole config once YAML aliases are expanded (the default: ~400)
MAX_CONFIG_DEPTH = 32  # levels of nesting (the schema's deepest key is 6 levels down)
_SHORT = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxdict = 4
_SHORT.maxlevel = 2


def _short(value) -> str:
    """A repr of bounded length and cost, for messages (a config value may be huge)."""
    return _SHORT.repr(value)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key_path(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _check_keys(config, schema: dict, node: dict | None = None, path: str = "", seen: set | None = None) -> None:
    """Refuse unknown keys before anything walks the values (a YAML alias bomb under a misspelt key would make
    every walk of the values take forever): follows the schema's mappings, looks only at keys, and checks a
    mapping that aliases share once."""
    node = schema if node is None else node
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    seen = set() if seen is None else seen
    if not isinstance(config, dict) or (id(config), id(node)) in seen:
        return  # its type is checked by the schema
    seen.add((id(config), id(node)))
    known, other = node.get("properties", {}), node.get("additionalProperties", True)
    unknown = [key for key in config if key not in known and other is False]
    missing = [key for key in node.get("required", []) if key not in config]
    where = f"of `{_clip(path)}`" if path else "at the top level"
    if missing:  # the missing key first: a fix written without `variants:` has its variants where they were expected
        raise ConfigError(
            f"config key `{_clip(path)}`: {missing[0]!r} is a required property"
            + (f"; {_short(unknown[0])} is not a key {where} (the keys are {', '.join(known)})" if unknown else "")
        )
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), list(known), n=1)
        raise ConfigError(
            f"config key `{_clip(_key_path(path, unknown[0]))}` is not a known key ({_short(unknown[0])} was "
            f"unexpected); the keys {where} are {', '.join(known)}" + (f": did you mean `{close[0]}`?" if close else "")
        )
    for key, value in config.items():
        if key in known or isinstance(other, dict):
            _check_keys(value, schema, known.get(key, other), _key_path(path, key), seen)


def _check_size(node, path: str = "", sizes: dict | None = None, open_: set | None = None) -> int:
    """Count the config's values as a walk sees them (YAML aliases expanded), each shared node counted once in
    time: refuse a config too large or too deep to check (an alias bomb under a known key) or one that contains
    itself (an alias to an enclosing node)."""
    if not isinstance(node, (dict, list)):
        return 1
    sizes, open_ = ({} if sizes is None else sizes), (set() if open_ is None else open_)
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_:
        raise ConfigError(f"config key `{_clip(path)}` contains itself (a YAML alias to a node around it)")
    if path.count(".") >= MAX_CONFIG_DEPTH:
        raise ConfigError(f"config key `{_clip(path)}` is nested more than {MAX_CONFIG_DEPTH} levels deep")
    open_.add(id(node))
    total = 1
    for key, value in node.items() if isinstance(node, dict) else enumerate(node):
        total += _check_size(value, _key_path(path, key), sizes, open_)
        if total > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"config key `{_clip(path.split('.')[0]) or '(top level)'}` holds more than {MAX_CONFIG_VALUES} "
                "values once YAML aliases (&name, *name) are expanded: write the values out"
            )
    open_.discard(id(node))
    sizes[id(node)] = total
    return total


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


MAX_NAME = 100  # characters in a study, fix or variant name: each names folders and files (file systems: 255)


def _check_name_length(key: str, name: str) -> None:
    if len(name) > MAX_NAME:
        raise ConfigError(
            f"{key}: the name {_short(name)} has {len(name)} characters, more than {MAX_NAME}: it names folders and "
            "files (a file system takes at most 255 characters per name); choose a shorter one"
        )


def check_study(config: dict) -> None:
    """Cross-field checks the schema cannot express; raises ConfigError naming the key and the fix."""
    _check_name_length("study", config["study"])
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
        if fix == BASELINE or not NAME.match(str(fix)):
            raise ConfigError(f"fixes.{fix}: a fix name must be letters, digits, '_', '.', '-' and not 'baseline'")
        _check_name_length(f"fixes.{_clip(fix, 40)}", fix)
        for variant in entry["variants"]:
            if not NAME.match(str(variant)):
                raise ConfigError(f"fixes.{fix}.variants.{variant}: names must be letters, digits, '_', '.', '-'")
            _check_name_length(f"fixes.{fix}.variants.{_clip(variant, 40)}", variant)
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


def check_config_file(path) -> None:
    """Refuse a config file that is not UTF-8 text with one line naming the file, the byte and its place (Snakemake
    would stop with a traceback of the decoder). A missing file is left to Snakemake, which names it."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - raw.rfind(b"\n", 0, err.start)
        raise ConfigError(
            f"config file {path} is not UTF-8 text: byte 0x{raw[err.start]:02x} at line {line}, column {column}; "
            f"save it as UTF-8 (from Latin-1: `iconv -f latin1 -t utf-8 {path} > utf8.yaml && mv utf8.yaml {path}`)"
        ) from None


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


# What YAML 1.1 (PyYAML, Snakemake's reader) reads as a string although it looks like a number: an exponent
# without a '.' in the mantissa or without a sign (1e-3, 1.0e3). YAML 1.2 would read both as floats.
YAML11_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def yaml_number_hint(text: str) -> str:
    """Two spellings of ``text`` that YAML 1.1 reads as a number: 1e-3 -> '1.0e-3 or 0.001'."""
    mantissa, exponent = re.split("[eE]", text)
    mantissa += "" if "." in mantissa else ".0"
    exponent = exponent if exponent[0] in "+-" else "+" + exponent
    return f"{mantissa}e{exponent} or {format(decimal.Decimal(text), 'f')}"


def _schema_message(error, schema_path: str) -> str:
    key = ".".join(map(str, error.absolute_path)) or "(top level)"
    value = error.instance
    if error.validator == "type" and isinstance(value, str) and YAML11_EXPONENT.match(value):
        return (
            f"config key `{key}`: {value!r} is a string, not a number: YAML reads {value} as a string (a number "
            f"in exponent form needs a '.' and a signed exponent); write {yaml_number_hint(value)}"
        )
    if error.validator == "type" and value is None:
        if key == "fixes":
            return (
                "config key `fixes`: null cannot remove every fix (an overlay is merged key by key over "
                "config.yaml): set each fix you do not want to null, e.g. `fixes: {combined: null, "
                "weight_increasing: null}`"
            )
        return (
            f"config key `{key}`: null (an empty value) is not {_type_words(error.validator_value)}; give a value, "
            "or leave the key out to take its default"
        )
    text = f"config key `{key}`: {_clip(error.message, 300)} (schema: {schema_path})"
    if error.validator == "type" and isinstance(value, str) and len(error.absolute_path) > 1:
        text += ". " + NESTED_CONFIG_HINT
    return text


def _type_words(types) -> str:
    words = {"object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
             "integer": "an integer", "boolean": "true or false"}  # fmt: skip
    return " or ".join(words.get(t, t) for t in ([types] if isinstance(types, str) else types))


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
    _check_keys(config, schema)  # first: these two look at no more values than the schema names, or a bounded number
    _check_size(config)
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
