"""Config validation and the config -> runs mapping."""

import copy
import json

import pytest
import yaml
from conftest import ROOT

from vanishing_gradients import study
from vanishing_gradients.study import ConfigError

SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")


def default_config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def with_change(path, value):
    config = default_config()
    *parents, last = path
    node = config
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return config


DELETE = object()


def test_default_config_is_valid_and_plans_the_study():
    config = study.validate_config(default_config(), SCHEMA)
    runs = study.runs(config)
    assert [r.path for r in runs if r.group == "baseline"] == [
        "baseline/lr0.01/depth3/seed42", "baseline/lr0.01/depth5/seed42", "baseline/lr0.01/depth7/seed42"]
    assert {r.group for r in runs} == {"baseline", "weight_increasing", "better_activation", "better_optimizer",
                                       "normalization", "skip_connection", "train_some_layers",
                                       "gradient_normalization", "combined"}
    assert len(runs) == 3 + 2 + 2 + 1 + 2 + 1 + 1 + 1 + 1


def test_defaults_are_filled_in():
    config = study.validate_config({}, SCHEMA)
    assert config["training"]["lr"] == 0.01 and config["training"]["batch_size"] == 512
    assert config["baseline"]["depths"] == [3, 5, 7] and config["seeds"] == [42]
    assert config["data"]["validation_size"] == 6000


def test_course_settings_reach_the_specs():
    config = study.validate_config(default_config(), SCHEMA)
    base = study.train_spec(config, "baseline", "lr0.01", 7, 42)
    assert (base.model.activation, base.model.init, base.optimizer, base.lr, base.batch_size, base.epochs) == (
        "sigmoid", "default", "sgd", 0.01, 512, 100)
    adam = study.train_spec(config, "better_optimizer", "adam", 7, 42)
    assert (adam.optimizer, adam.lr, adam.model.init_std, adam.model.activation) == ("adam", 0.001, 0.05, "sigmoid")
    skip = study.train_spec(config, "skip_connection", "course", 7, 42)
    assert skip.model.skips == ((1, 3), (4, 7))
    grow = study.train_spec(config, "train_some_layers", "course", 7, 42)
    assert grow.schedule == (2, 2, 2, 1) and grow.epochs == 100
    assert study.spec_from_param(study.spec_param(config, "skip_connection", "course", 7, 42)) == skip


def test_spec_param_changes_only_for_the_changed_variant():
    config = study.validate_config(default_config(), SCHEMA)
    before = {r: study.spec_param(config, r.group, r.variant, r.depth, r.seed) for r in study.runs(config)}
    changed = copy.deepcopy(config)
    changed["fixes"]["weight_increasing"]["variants"]["std10"]["init_std"] = 5.0
    after = {r: study.spec_param(changed, r.group, r.variant, r.depth, r.seed) for r in study.runs(changed)}
    assert [r.path for r in before if before[r] != after[r]] == ["weight_increasing/std10/depth7/seed42"]
    assert json.loads(after[study.Run("weight_increasing", "std10", 7, 42)])["model"]["init_std"] == 5.0


BAD_CONFIGS = [
    (("seeds",), [], "seeds"),
    (("seeds",), [1, 1], "lists a seed twice"),
    (("seeds",), ["a"], "'a' is not of type 'integer'"),
    (("device",), "gpu", "'gpu' is not one of"),
    (("threads",), 0, "0 is less than the minimum of 1"),
    (("trainig",), {}, "Additional properties are not allowed"),
    (("training", "activation"), "relux", "'relux' is not one of"),
    (("training", "lr"), -0.1, "less than or equal to the minimum of 0"),
    (("training", "lr"), "fast", "'fast' is not of type 'number'"),
    (("training", "batch_size"), 0, "less than the minimum of 1"),
    (("training", "epochs"), 2.5, "2.5 is not of type 'integer'"),
    (("training", "optimizer"), "rmsprop", "'rmsprop' is not one of"),
    (("training", "norm"), "layernorm", "'layernorm' is not one of"),
    (("training", "momentum"), 0.9, "('momentum' was unexpected)"),
    (("baseline", "depths"), [0, 3], "0 is less than the minimum of 1"),
    (("baseline", "depths"), [], "should be non-empty"),
    (("baseline", "learning_rates"), [0.01, 0.01], "lists a learning rate twice"),
    (("data", "validation_size"), 60000, "greater than the maximum of 59999"),
    (("data", "mirrors"), "/usr/share", "is not of type 'array'"),
    (("data", "subset"), {"train": 0}, "less than the minimum of 1"),
    (("fixes", "skip_connection", "depths"), [5], "skip (4, 7) must satisfy"),
    (("fixes", "train_some_layers", "variants", "course", "schedule"), [2, 2, 2], "summing to depth 7"),
    (("fixes", "weight_increasing", "variants", "std1", "init_std"), 0, "less than or equal to the minimum of 0"),
    (("fixes", "weight_increasing", "variants", "std1"), {"init": "normal", "init_std": None}, "needs init_std > 0"),
    (("fixes", "better_activation", "variants"), {}, "should be non-empty"),
    (("fixes", "better_activation", "variants", "bad name!"), {}, "names must be letters"),
    (("fixes", "baseline"), {"variants": {"a": {}}}, "not 'baseline'"),
    (("fixes", "normalization", "variants", "batchnorm", "norm"), "group", "'group' is not one of"),
    (("fixes", "combined", "variants", "relu_bn_skip_adam", "skips"), [[1]], "[1] is too short"),
    (("report", "show_code"), "yes", "'yes' is not of type 'boolean'"),
]


@pytest.mark.parametrize("path, value, message", BAD_CONFIGS, ids=[".".join(p) + "=" + repr(v)[:20] for p, v, _ in BAD_CONFIGS])
def test_bad_config_is_refused_with_a_message_naming_key_and_value(path, value, message):
    with pytest.raises(ConfigError) as err:
        study.validate_config(with_change(path, value), SCHEMA)
    text = str(err.value)
    assert message in text
    named = [p for p in path if p not in ("variants",)]
    assert any(str(p) in text for p in named), f"the message does not name the key: {text}"
