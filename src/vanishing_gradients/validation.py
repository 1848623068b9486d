"""A config checked before any job starts (torch-free): its keys, size and numbers, the JSON schema, then the
cross-field rules; each refusal is one ConfigError naming the key, the value and the fix."""

from __future__ import annotations

import decimal
import difflib
import json
import math
import re
import reprlib
from pathlib import Path

from . import datasets, specs
from . import phase as phase_diagram
from .layout import RESERVED_STUDY_NAMES, lr_name
from .study import (
    BASELINE,
    FINAL,
    NAME,
    SCREEN,
    ConfigError,
    configurations,
    course_lr,
    depths,
    drop_removed,
    select_fixes,
    train_spec,
)

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


def check_dataset(data: dict) -> datasets.Dataset:
    """The dataset ``data.name`` names (one of ``datasets.DATASETS``), with a validation split it can hold."""
    if data["name"] not in datasets.DATASETS:
        raise ConfigError(f"config key `data.name`: {datasets.unknown(data['name'])}")
    dataset = datasets.get(data["name"])
    if not data["validation_size"] < dataset.train_size:
        raise ConfigError(
            f"config key `data.validation_size`: {data['validation_size']} leaves no training images: "
            f"{dataset.name} has {dataset.train_size}; give at most {dataset.train_size - 1}"
        )
    return dataset


def split_sizes(data: dict, dataset: datasets.Dataset) -> dict[str, tuple[int, str]]:
    """Images in each split of the prepared data (``data.prepare_dataset``'s split, then ``subset``), each with
    the config key that decides it."""
    subset = data.get("subset") or {}
    whole = {
        "train": (dataset.train_size - data["validation_size"], "data.validation_size"),
        "validation": (data["validation_size"], "data.validation_size"),
        "test": (dataset.test_size, "data.name"),
    }
    return {
        split: (subset[split], f"data.subset.{split}") if subset.get(split, size) < size else (size, key)
        for split, (size, key) in whole.items()
    }


def check_batch_statistics(key: str, spec: specs.TrainSpec, sizes: dict[str, tuple[int, str]]) -> None:
    """A configuration that normalises over the batch needs batches of two samples or more: torch refuses a batch
    of one in training, and standardize (no running statistics) evaluates each split as one batch."""
    norm = spec.model.norm
    if norm == "none":
        return
    if spec.batch_size < 2:
        raise ConfigError(
            f"{key}: batch_size {spec.batch_size} with norm: {norm} leaves batches of one sample, which cannot be "
            "normalised over the batch; give batch_size 2 or more"
        )
    for split in ("train", "validation", "test") if norm == "standardize" else ("train",):
        size, decided_by = sizes[split]
        images = f"{'training' if split == 'train' else split} image"
        if size < 2:
            raise ConfigError(
                f"config key `{decided_by}` leaves {size} {images}, but {key} normalises over the batch "
                f"(norm: {norm}){', which evaluates each split as one batch' if split != 'train' else ''}: give "
                f"at least 2 {images}s"
            )


def check_variant_depths(config: dict) -> None:
    """``fixes.<fix>.variant_depths`` names variants of its fix: a misspelt one would silently take the fix's depths."""
    for fix, entry in config.get("fixes", {}).items():
        unknown = [v for v in entry.get("variant_depths") or {} if v not in entry["variants"]]
        if unknown:
            raise ConfigError(
                f"fixes.{fix}.variant_depths: {unknown[0]!r} is not a variant of fix {fix!r} (it has "
                f"{', '.join(entry['variants'])}); name one of them, or remove it"
            )


def check_study(config: dict) -> None:
    """Cross-field checks the schema cannot express; raises ConfigError naming the key and the fix."""
    sizes = split_sizes(config["data"], check_dataset(config["data"]))
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
        for variant, settings in entry["variants"].items():
            # Skips repeat with their period to fill a deeper network and are cut at a shallower one (study.tiled);
            # a pair that fits none of the variant's depths would vanish silently: refuse it.
            own = depths(config, fix, variant)
            for source, target in settings.get("skips") or []:
                if target > max(own):
                    raise ConfigError(
                        f"fixes.{fix}.variants.{variant}: skip ({source}, {target}) fits none of its depths "
                        f"{own}; give a target layer within the deepest one"
                    )
    check_protocol(config)
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
                spec = train_spec(config, phase, group, variant, course_lr(config, group, variant), depth, 0)
                # a run budget with fewer steps than a schedule's stages
                specs.stage_steps(spec, specs.steps_per_epoch(spec, sizes["train"][0]))
        except (ValueError, TypeError, KeyError) as err:
            raise ConfigError(f"{key} at depth {depth}: {err}") from None
        check_batch_statistics(key, spec, sizes)
    phase_diagram.check(config)  # `phase:`, the phase diagram's settings


def check_protocol(config: dict) -> None:
    """The protocol's declarations (``selection``, ``comparison``) that the schema cannot check."""
    overlap = sorted(set(config["seeds"]) & set(config["selection"]["seeds"]))
    if overlap:
        raise ConfigError(
            f"selection.seeds: {overlap} are final seeds too; a rate chosen on a seed must not be judged on the same "
            "draw: give screening seeds apart from `seeds` (e.g. 0, 1, 2)"
        )
    screen = config["selection"]
    if screen["score_epochs"] > screen["epochs"]:
        raise ConfigError(
            f"selection.score_epochs: {screen['score_epochs']} is more than the screen's {screen['epochs']} epochs; "
            "score over at most selection.epochs epochs"
        )
    reference = config["comparison"]["reference"]
    if reference is not None and (reference["group"], reference["variant"]) not in {
        (g, v) for g, v, _ in configurations(config)
    }:
        raise ConfigError(
            f"comparison.reference: {reference} is not a configuration of this study; name a fix and one of its "
            "variants (e.g. {group: combined, variant: relu_bn_skip_adam}), or null for no reference"
        )


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
    drop_removed(config)
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
    check_variant_depths(config)  # before select_fixes forgets the variants a study does not train
    select_fixes(config)
    check_study(config)
    config["data"].setdefault("mirrors", list(datasets.of(config).mirrors))  # the dataset's own by default
    return config
