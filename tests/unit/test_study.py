"""Config validation and the config -> runs mapping."""

import contextlib
import copy
import json
import signal
from pathlib import Path

import pytest
import yaml
from conftest import DEFAULT_FIXES, ROOT, merged_config
from workflow_helpers import all_runs

from vanishing_gradients import specs, study, validation
from vanishing_gradients.layout import RunId
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


def at_course_rates(config):
    """The final runs if the screen chose every configuration's course rate."""
    chosen = {(g, v, d): study.course_lr(config, g, v) for g, v, d in study.configurations(config)}
    return study.final_runs(config, chosen)


def test_default_config_is_valid_and_plans_the_study():
    config = validation.validate_config(default_config(), SCHEMA)
    configurations = study.configurations(config)
    assert len(configurations) == 3 + 4 + 2 + 1 + 2 + 1 + 1 + 1 + 1
    assert list(dict.fromkeys(g for g, _, _ in configurations)) == ["baseline", *DEFAULT_FIXES]
    screen = study.screening_runs(config)
    sgd, adam = (len(config["selection"]["learning_rates"][k]) for k in ("sgd", "adam"))
    assert (
        len(sgd_rates := config["selection"]["learning_rates"]["sgd"]) >= 4 and max(sgd_rates) / min(sgd_rates) >= 100
    )
    seeds = config["selection"]["seeds"]
    assert len(seeds) >= 3 and not set(seeds) & set(config["seeds"])  # several screening seeds, not the final ones
    # Adam: better_optimizer and combined
    assert len(screen) == ((len(configurations) - 2) * sgd + 2 * adam) * len(seeds)
    assert [r.key for r in screen if r.group == "baseline" and r.depth == 3][:2] == [
        "screen/fashion_mnist/baseline/sigmoid/lr0.01/depth3/seed0",
        "screen/fashion_mnist/baseline/sigmoid/lr0.01/depth3/seed1",
    ]
    chosen = {
        c: 1.0 if study.variant_settings(config, c[0], c[1])["optimizer"] == "sgd" else 0.001 for c in configurations
    }
    final = study.final_runs(config, chosen)
    assert {r.study for r in final} == {"default"} and {r.phase for r in final} == {"runs"}
    fair = [r for r in final if r.seed in config["seeds"]]
    assert [r.key for r in fair if r.group == "baseline" and r.depth == 7] == [
        *[f"runs/fashion_mnist/baseline/sigmoid/lr1/depth7/seed{s}" for s in config["seeds"]],
        "runs/fashion_mnist/baseline/sigmoid/lr0.01/depth7/seed42",  # the course's rate, the exercise's seed
    ]
    assert len(config["seeds"]) >= 10  # enough final seeds to resolve a 1-point difference (docs/protocol.md)
    checked = [r for r in final if r.seed == 0]  # selection.check: the 3-layer baseline at every rate, full budget
    assert [(r.group, r.depth) for r in checked] == [("baseline", 3)] * sgd


def test_a_configuration_whose_grid_holds_one_rate_is_not_screened():
    config = default_config()
    config["selection"]["learning_rates"]["adam"] = [0.001]
    config = validation.validate_config(config, SCHEMA)
    assert {r.group for r in study.screening_runs(config)} >= {"baseline"}
    assert not [r for r in study.screening_runs(config) if r.group in ("better_optimizer", "combined")]
    fixed = json.loads(study.fixed_rates(config))
    assert [(f["group"], f["lr"]) for f in fixed] == [("better_optimizer", 0.001), ("combined", 0.001)]


def test_screening_runs_take_the_screen_budget_and_final_runs_the_full_one():
    config = validation.validate_config(default_config(), SCHEMA)
    screen = study.spec_of(config, study.screening_runs(config)[0])
    final = study.spec_of(config, at_course_rates(config)[0])
    assert (screen.epochs, screen.patience) == (config["selection"]["epochs"], config["selection"]["patience"])
    assert (final.epochs, final.patience) == (config["training"]["epochs"], config["training"]["patience"])


def test_a_path_names_a_configured_rate_and_nothing_else():
    config = validation.validate_config(default_config(), SCHEMA)
    assert study.lr_of(config, "better_optimizer", "adam", "0.0003") == 0.0003
    with pytest.raises(ConfigError, match="not one of"):
        study.lr_of(config, "better_optimizer", "adam", "0.5")


def test_defaults_are_filled_in():
    config = validation.validate_config({}, SCHEMA)
    assert config["training"]["lr"] == 0.01 and config["training"]["batch_size"] == 512
    assert config["baseline"]["depths"] == [3, 5, 7] and config["seeds"] == [42]
    assert config["data"]["validation_size"] == 6000
    assert config["selection"]["learning_rates"]["adam"] == [0.0001, 0.0003, 0.001, 0.003, 0.01]


def spec_at(config, group, variant, lr=None, depth=7, seed=42):
    lr = study.course_lr(config, group, variant) if lr is None else lr
    return study.train_spec(config, study.FINAL, group, variant, lr, depth, seed)


def test_course_settings_reach_the_specs():
    config = validation.validate_config(default_config(), SCHEMA)
    base = spec_at(config, "baseline", "sigmoid")
    assert (base.model.activation, base.model.init, base.optimizer, base.lr, base.batch_size, base.epochs) == (
        "sigmoid",
        "default",
        "sgd",
        0.01,
        512,
        config["training"]["epochs"],
    )
    adam = spec_at(config, "better_optimizer", "adam")
    assert (adam.optimizer, adam.lr, adam.model.init_std, adam.model.activation) == ("adam", 0.001, 0.05, "sigmoid")
    skip = spec_at(config, "skip_connection", "course")
    assert skip.model.skips == ((1, 3), (4, 7))
    grow = spec_at(config, "train_some_layers", "course")
    assert grow.schedule == (2, 2, 2, 1) and grow.epochs == config["training"]["epochs"] and grow.budget == "run"
    run = study.study_layout(config).run(study.FINAL, "skip_connection", "course", 0.01, 7, 42)
    assert specs.from_param(study.spec_param(config, run)) == skip


def test_a_fix_trained_at_other_depths_repeats_its_skips_and_blocks():
    """The course's pattern, written for 7 layers, fills 15 and is cut at 3; a pair that fits no depth is refused."""
    config = default_config()
    for fix in ("skip_connection", "train_some_layers"):
        config["fixes"][fix]["depths"] = [3, 7, 15]
    config["selection"]["epochs"] = 17  # train-some-layers' 17 stages at depth 15 share the screen's budget
    config = validation.validate_config(config, SCHEMA)
    at = {
        d: study.train_spec(config, study.FINAL, "skip_connection", "course", 0.1, d, 42).model.skips
        for d in (3, 7, 15)
    }
    assert at == {3: ((1, 3),), 7: ((1, 3), (4, 7)), 15: ((1, 3), (4, 7), (8, 10), (11, 14))}
    blocks = {
        d: study.train_spec(config, study.FINAL, "train_some_layers", "course", 0.1, d, 42).schedule for d in (3, 15)
    }
    assert blocks == {3: (2, 1), 15: (2, 2, 2, 1, 2, 2, 2, 1, 1)}


def test_a_variant_with_its_own_depths_trains_there_and_its_fix_siblings_keep_the_fixs():
    """``variant_depths``: a control trained only where another variant fails; the other runs keep their params."""
    config = default_config()
    before = validation.validate_config(copy.deepcopy(config), SCHEMA)
    config["fixes"]["better_activation"]["variant_depths"] = {"tanh": [15, 200]}
    config = validation.validate_config(config, SCHEMA)
    trained = study.configurations(config, "better_activation")
    assert trained == [
        ("better_activation", "relu", 7),
        ("better_activation", "tanh", 15),
        ("better_activation", "tanh", 200),
    ]
    assert study.train_spec(config, study.FINAL, "better_activation", "tanh", 0.1, 200, 42).model.depth == 200
    relu = study.study_layout(config).run(study.FINAL, "better_activation", "relu", 0.01, 7, 42)
    assert study.spec_param(config, relu) == study.spec_param(before, relu)


def test_variant_depths_naming_no_variant_is_refused_and_an_untrained_ones_is_forgotten():
    config = default_config()
    config["fixes"]["better_activation"]["variant_depths"] = {"tahn": [15]}
    with pytest.raises(ConfigError, match=r"fixes.better_activation.variant_depths: 'tahn' is not a variant"):
        validation.validate_config(config, SCHEMA)
    config = default_config()
    config["fixes"]["better_activation"]["variant_depths"] = {"tanh": [15]}
    config["train_fixes"] = {"better_activation": ["relu"]}
    config["comparison"]["reference"] = None
    config = validation.validate_config(config, SCHEMA)
    assert config["fixes"]["better_activation"]["variant_depths"] == {}
    assert study.configurations(config) == [("baseline", "sigmoid", d) for d in (3, 5, 7)] + [
        ("better_activation", "relu", 7)
    ]


def test_a_skip_beyond_the_variants_own_depths_is_refused():
    config = default_config()
    config["fixes"]["skip_connection"]["variant_depths"] = {"course": [3]}
    with pytest.raises(ConfigError, match=r"skip \(4, 7\) fits none of its depths \[3\]"):
        validation.validate_config(config, SCHEMA)


def test_spec_param_changes_only_for_the_changed_variant():
    config = validation.validate_config(default_config(), SCHEMA)
    runs = at_course_rates(config) + study.screening_runs(config)
    before = {r: study.spec_param(config, r) for r in runs}
    changed = copy.deepcopy(config)
    changed["fixes"]["weight_increasing"]["variants"]["std10"]["init_std"] = 5.0
    after = {r: study.spec_param(changed, r) for r in runs}
    assert {(r.group, r.variant) for r in runs if before[r] != after[r]} == {("weight_increasing", "std10")}
    assert len([r for r in runs if before[r] != after[r]]) == len([r for r in runs if r.variant == "std10"])
    run = RunId("default", "fashion_mnist", "runs", "weight_increasing", "std10", 0.01, 7, config["seeds"][0])
    assert json.loads(after[run])["model"]["init_std"] == 5.0


BAD_CONFIGS = [
    (("seeds",), [], "seeds"),
    (("seeds",), [1, 1], "lists a seed twice"),
    (("seeds",), ["a"], "'a' is not of type 'integer'"),
    (("device",), "gpu", "'gpu' is not one of"),
    (("threads",), 0, "0 is less than the minimum of 1"),
    (("trainig",), {}, "config key `trainig` is not a known key ('trainig' was unexpected); the keys at the top level"),
    (("trainig",), {}, "did you mean `training`?"),
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
    (("baseline", "learning_rates"), [0.01, 0.1], "was replaced"),
    (("selection", "learning_rates", "sgd"), [0.1, 0.1000000001], "two rates named alike"),
    (("selection", "learning_rates", "adam"), [], "should be non-empty"),
    (("selection", "learning_rates", "rmsprop"), [0.1], "'rmsprop' was unexpected"),
    (("selection", "seeds"), [0, 0], "lists a seed twice"),
    (("selection", "epochs"), 0, "less than the minimum of 1"),
    (("selection", "patience"), 0, "less than the minimum of 1"),
    (("selection", "check"), [{"group": "baseline", "variant": "sigmoid", "depth": 4}], "not a configuration"),
    (("training", "patience"), 0, "less than the minimum of 1"),
    (("data", "validation_size"), 60000, "leaves no training images: fashion_mnist has 60000; give at most 59999"),
    (("data", "name"), "cifar10", "'cifar10' is not a known dataset; the known datasets are fashion_mnist"),
    (("data", "name"), "bad name!", "does not match"),
    (("data", "mirrors"), "/usr/share", "is not of type 'array'"),
    (("data", "subset"), {"train": 0}, "less than the minimum of 1"),
    (("fixes", "skip_connection", "depths"), [5], "skip (4, 7) fits none of its depths [5]"),
    (("fixes", "skip_connection", "variants", "course", "skips"), [[3, 2]], "skip (3, 2) must satisfy"),
    (("fixes", "train_some_layers", "variants", "course", "schedule"), [2, 0], "less than the minimum of 1"),
    (("fixes", "weight_increasing", "variants", "std1", "init_std"), 0, "less than or equal to the minimum of 0"),
    (("fixes", "weight_increasing", "variants", "std1"), {"init": "normal", "init_std": None}, "needs init_std > 0"),
    (("fixes", "better_activation", "variants"), {}, "should be non-empty"),
    (("fixes", "better_activation", "variants", "bad name!"), {}, "names must be letters"),
    (("fixes", "baseline"), {"variants": {"a": {}}}, "not 'baseline'"),
    # a new fix written without `variants:`: the missing key is named, not the variant it holds
    (("fixes", "my_fix"), {"relu": {"activation": "relu"}}, "'variants' is a required property"),
    (("fixes", "normalization", "variants", "batchnorm", "norm"), "group", "'group' is not one of"),
    (("fixes", "combined", "variants", "relu_bn_skip_adam", "skips"), [[1]], "[1] is too short"),
    (("report", "show_code"), "yes", "'yes' is not of type 'boolean'"),
    (("training", "lr"), float("nan"), "nan is not a finite number"),
    (("training", "lr"), float("inf"), "inf is not a finite number"),
    (("selection", "learning_rates", "sgd"), [0.01, float("nan")], "nan is not a finite number"),
    (("fixes", "weight_increasing", "variants", "std1", "init_std"), float("-inf"), "not a finite number"),
    (("training", "width"), 128.0, "128.0 is not of type 'integer'"),
    (("baseline", "depths"), [3.0], "3.0 is not of type 'integer'"),
    (("seeds",), [2**64], "is greater than the maximum of 9223372036854775807"),
    (("seeds",), [-1], "less than the minimum of 0"),
    (("data", "split_seed"), 2**63, "greater than the maximum"),
    (("data", "mirrors"), [], "should be non-empty"),
    (("study",), "my study", "does not match"),
    (("study",), "downloads", "reserved"),
    (("init_flow", "depths"), [2, 1001], "1001 is greater than the maximum of 1000"),
    (("tensorboard",), "on", "'on' is not of type 'boolean'"),
    (("seeds",), ["1", "2"], "--configfile"),  # what `--config seeds=[1,2]` gives
    (("training",), {"epochs": "5"}, "--configfile"),  # what `--config 'training={epochs: 5}'` gives
]


@pytest.mark.parametrize(
    "path, value, message", BAD_CONFIGS, ids=[".".join(p) + "=" + repr(v)[:20] for p, v, _ in BAD_CONFIGS]
)
def test_bad_config_is_refused_with_a_message_naming_key_and_value(path, value, message):
    with pytest.raises(ConfigError) as err:
        validation.validate_config(with_change(path, value), SCHEMA)
    text = str(err.value)
    assert message in text
    named = [p for p in path if p not in ("variants",)]
    assert any(str(p) in text for p in named), f"the message does not name the key: {text}"


def test_schema_settings_are_the_spec_fields():
    """One list of run settings: the schema's keys are exactly the spec dataclasses' fields."""
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    assert set(schema["definitions"]["settings"]["properties"]) == set(specs.SETTINGS)
    assert set(validation.validate_config({}, SCHEMA)["training"]) == set(specs.SETTINGS)


def test_an_overlay_removes_a_fix_or_variant_with_null():
    config = default_config()
    config["fixes"]["combined"] = None
    config["fixes"]["weight_increasing"]["variants"]["xavier"] = None
    with pytest.raises(study.ConfigError, match=r"comparison\.reference"):  # the declared reference is gone
        validation.validate_config(copy.deepcopy(config), SCHEMA)
    config["comparison"] = {"reference": None}
    config = validation.validate_config(config, SCHEMA)
    assert "combined" not in config["fixes"] and "combined" not in {g for g, _, _ in study.configurations(config)}
    assert list(config["fixes"]["weight_increasing"]["variants"]) == ["std1", "std10", "kaiming"]


def test_presets_name_what_they_train_so_a_new_fix_joins_only_the_default_study():
    """A fix added to config.yaml's `fixes:` (as a user adds one) is trained by the default study, whose
    `train_fixes` is `all`, and by no preset, each of which names its fixes and variants."""
    new_fix = {"depths": [7], "variants": {"course": {"activation": "tanh"}}}
    trained = {}
    for overlays in ((), ("studies/quick.yaml",), ("studies/course.yaml",), ("studies/depth.yaml",)):
        config = merged_config(*overlays)
        before = {(g, v) for g, v, _ in study.configurations(validation.validate_config(copy.deepcopy(config), SCHEMA))}
        config["fixes"]["dropout"] = new_fix
        after = {(g, v) for g, v, _ in study.configurations(validation.validate_config(config, SCHEMA))}
        trained[overlays] = after - before
    assert trained == {
        (): {("dropout", "course")},
        ("studies/quick.yaml",): set(),
        ("studies/course.yaml",): set(),
        ("studies/depth.yaml",): set(),
    }


@pytest.mark.parametrize(
    "train_fixes, message",
    [
        (
            {"batchnorm": ["course"]},
            r"`train_fixes\.batchnorm`: no fix 'batchnorm' in `fixes:` \(there are weight_increasing",
        ),
        (
            {"normalization": ["bn"]},
            r"`train_fixes\.normalization`: no variant 'bn' of fix 'normalization' \(it has batchnorm",
        ),
        ({"normalization": []}, r"train_fixes"),
        ("some", r"train_fixes"),
    ],
)
def test_a_study_that_names_a_fix_or_variant_that_does_not_exist_is_refused(train_fixes, message):
    config = default_config()
    config["train_fixes"] = train_fixes
    config["comparison"] = {"reference": None}
    with pytest.raises(study.ConfigError, match=message):
        validation.validate_config(config, SCHEMA)


def test_train_fixes_keeps_the_named_variants_in_the_configs_order_and_null_leaves_a_fix_out():
    config = default_config()
    config["train_fixes"] = {"normalization": "all", "better_activation": ["tanh"], "combined": None}
    config["comparison"] = {"reference": None}
    config = validation.validate_config(config, SCHEMA)
    assert [(g, v) for g, v, _ in study.configurations(config) if g != "baseline"] == [
        ("better_activation", "tanh"),
        ("normalization", "batchnorm"),
        ("normalization", "standardize"),
    ]


def test_course_preset_is_the_exercise():
    config = merged_config("studies/course.yaml")
    config = validation.validate_config(config, SCHEMA)
    assert study.screening_runs(config) == []  # one rate per optimiser: nothing to choose
    chosen = {(f["group"], f["variant"], f["depth"]): f["lr"] for f in json.loads(study.fixed_rates(config))}
    runs = study.final_runs(config, chosen)
    assert {r.study for r in runs} == {"course"} and {r.seed for r in runs} == {42}
    grown = study.spec_of(config, next(r for r in runs if r.group == "train_some_layers"))
    assert (grown.epochs, grown.budget, specs.total_epochs(grown)) == (100, "stage", 700)  # 7 stages of 100 epochs
    assert {(r.optimizer, r.lr) for r in map(lambda r: study.spec_of(config, r), runs)} == {
        ("sgd", 0.01),
        ("adam", 0.001),
    }
    assert {study.spec_of(config, r).patience for r in runs} == {None}  # every epoch, as in the exercise
    assert sorted({(r.group, r.variant) for r in runs}) == [
        ("baseline", "sigmoid"),
        ("better_activation", "relu"),
        ("better_activation", "tanh"),
        ("better_optimizer", "adam"),
        ("normalization", "batchnorm"),
        ("normalization", "standardize"),
        ("skip_connection", "course"),
        ("train_some_layers", "course"),
        ("weight_increasing", "std1"),
        ("weight_increasing", "std10"),
    ]
    assert len(runs) == 3 + 2 + 2 + 1 + 2 + 1 + 1  # baselines and the six fixes


@pytest.mark.parametrize(
    "depth, skips, schedule",
    [
        (7, [[1, 3], [4, 7]], [2, 2, 2, 1]),
        (2, [], [2]),
        (5, [[1, 3]], [2, 2, 1]),
        (
            16,
            [[1, 3], [4, 7], [8, 10], [11, 14], [15, 16]] and [[1, 3], [4, 7], [8, 10], [11, 14]],
            [2, 2, 2, 1, 2, 2, 2, 1, 2],
        ),
    ],
)
def test_skips_and_blocks_repeat_every_seven_layers_at_other_depths(depth, skips, schedule):
    settings = {"skips": [[1, 3], [4, 7]], "schedule": [2, 2, 2, 1]}
    tiled = study.tiled(settings, depth)
    assert tiled["skips"] == skips and tiled["schedule"] == schedule
    assert specs.from_settings(tiled, depth, 0).schedule == tuple(schedule)


def test_init_flow_measures_the_baseline_and_every_fix_variant_at_every_depth():
    config = validation.validate_config(default_config(), SCHEMA)
    measured = study.init_flow_specs(config)
    variants = {(g, v) for g, v, _ in measured}
    assert ("baseline", "sigmoid") in variants and len([g for g, _ in variants if g == "baseline"]) == 1
    assert {(g, v) for g, v, _ in study.configurations(config) if g != "baseline"} <= variants
    assert {s.model.depth for _, _, s in measured} == set(config["init_flow"]["depths"])
    assert max(config["init_flow"]["depths"]) >= 30


def test_the_report_param_is_sorted_and_leaves_out_the_mirrors():
    config = validation.validate_config(default_config(), SCHEMA)
    shown = json.loads(study.report_param(config))
    assert "mirrors" not in shown["data"] and shown["data"]["validation_size"] == 6000
    reordered = validation.validate_config(dict(reversed(list(default_config().items()))), SCHEMA)
    reordered["data"]["mirrors"] = ["/elsewhere"]
    assert study.report_param(reordered) == study.report_param(config)


@contextlib.contextmanager
def within(seconds):
    """Fail (instead of hanging) if the block takes longer than ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def alias_bomb(levels=30, width=10):
    """What PyYAML makes of a billion-laughs document: one list referenced ``width`` times at every level."""
    node = ["lol"] * width
    for _ in range(levels):
        node = [node] * width
    return node


@pytest.mark.parametrize(
    "path", [("lol",), ("training", "lol"), ("fixes", "combined", "variants", "relu_bn_skip_adam", "lol")]
)
def test_an_alias_bomb_under_an_unknown_key_is_refused_at_once_naming_the_key(path):
    config = with_change(path, alias_bomb())
    with within(5), pytest.raises(ConfigError) as err:
        validation.validate_config(config, SCHEMA)
    assert f"config key `{'.'.join(path)}` is not a known key ('lol' was unexpected)" in str(err.value)


@pytest.mark.parametrize("path", [("seeds",), ("training", "skips"), ("data", "mirrors")])
def test_an_alias_bomb_under_a_known_key_is_refused_at_once(path):
    config = with_change(path, alias_bomb())
    with within(5), pytest.raises(ConfigError) as err:
        validation.validate_config(config, SCHEMA)
    assert f"config key `{path[0]}` holds more than 100000 values once YAML aliases" in str(err.value)
    assert len(str(err.value)) < 300


def test_yaml_aliases_of_a_normal_size_are_fine_and_a_node_that_contains_itself_is_refused():
    text = (
        (ROOT / "config.yaml").read_text().replace("skips: [[1, 3], [4, 7]], init", "skips: &s [[1, 3], [4, 7]], init")
    )
    config = yaml.safe_load(text.replace("skips: [[1, 3], [4, 7]]\n", "skips: *s\n"))
    variants = config["fixes"]["combined"]["variants"]
    assert variants["relu_bn_skip_adam"]["skips"] is config["fixes"]["skip_connection"]["variants"]["course"]["skips"]
    validation.validate_config(config, SCHEMA)
    looped = yaml.safe_load("seeds: &s [1, *s]")
    with within(5), pytest.raises(ConfigError, match=r"config key `seeds.1` contains itself"):
        validation.validate_config(looped, SCHEMA)


def test_mappings_shared_through_aliases_are_key_checked_once():
    """3,000 fixes sharing one mapping of 3,000 variants sharing one setting: 9 million settings to a walk, 6,000
    entries in the YAML. Refused at once for its size, after a key check that looked at each mapping once."""
    shared = {"lr": 0.1}
    variants = {f"v{i}": shared for i in range(3000)}
    config = {"fixes": {f"f{i}": {"variants": variants} for i in range(3000)}}
    with within(5), pytest.raises(ConfigError, match=r"config key `fixes` holds more than 100000 values"):
        validation.validate_config(config, SCHEMA)


def test_quick_preset_is_small_real_and_unscreened():
    config = validation.validate_config(merged_config("studies/quick.yaml"), SCHEMA)
    assert study.screening_runs(config) == [] and config["data"]["subset"] is None  # the real data, no screen
    assert study.configurations(config) == [
        ("baseline", "sigmoid", 3),
        ("baseline", "sigmoid", 7),
        ("better_activation", "tanh", 7),
        ("normalization", "batchnorm", 7),
    ]
    runs = all_runs(config)
    assert len(runs) == 4 * 2 and {study.spec_of(config, r).epochs for r in runs} == {15}
    assert {r.lr for r in runs} == {0.3} and {r.study for r in runs} == {"quick"}
