"""Weak messages made strong: each a one-line error naming the key, the value and the fix."""

import subprocess

import pytest
import yaml
from conftest import DEFAULT_FIXES, ROOT, merged_config
from snakemake.utils import update_config
from workflow_helpers import SNAKEMAKE, copy_project

from vanishing_gradients import compare, resources, specs, study, validation
from vanishing_gradients.datasets import FASHION_MNIST
from vanishing_gradients.resources import run_mem_mb
from vanishing_gradients.study import ConfigError

SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")


def refused(overlay: str) -> str:
    """The message for config.yaml with a YAML overlay merged over it, as `--configfile` does."""
    config = merged_config()
    update_config(config, yaml.safe_load(overlay))
    with pytest.raises(ConfigError) as err:
        validation.validate_config(config, SCHEMA)
    text = str(err.value)
    assert "\n" not in text, text
    return text


@pytest.mark.parametrize(
    "overlay, key, value, fix",
    [
        ("training: {lr: 1e-3}", "training.lr", "'1e-3'", "write 1.0e-3 or 0.001"),
        (
            "selection: {learning_rates: {sgd: [0.01, 1E-1]}}",
            "selection.learning_rates.sgd.1",
            "'1E-1'",
            "write 1.0e-1 or 0.1",
        ),
        (
            "fixes: {better_optimizer: {variants: {adam: {lr: 1.0e3}}}}",
            "fixes.better_optimizer.variants.adam.lr",
            "'1.0e3'",
            "write 1.0e+3 or 1000",
        ),
    ],
)
def test_a_number_yaml_reads_as_a_string_says_so_and_how_to_write_it(overlay, key, value, fix):
    text = refused(overlay)
    assert f"`{key}" in text and value in text and "YAML reads" in text and fix in text
    assert "--config" not in text  # it came from an overlay: not the --config hint
    for spelling in fix.removeprefix("write ").split(" or "):
        assert isinstance(yaml.safe_load(f"x: {spelling}")["x"], (int, float)), spelling


def test_fixes_null_says_how_to_remove_fixes():
    text = refused("fixes: null")
    assert text.startswith("config key `fixes`: null") and "`fixes: {combined: null" in text


@pytest.mark.parametrize("overlay, key", [("training: null", "training"), ("fixes: {combined: {variants: null}}",
                                                                           "fixes.combined.variants")])  # fmt: skip
def test_a_null_section_names_the_key_and_what_it_needs(overlay, key):
    text = refused(overlay)
    assert f"config key `{key}`: null (an empty value) is not a mapping" in text and "leave the key out" in text


@pytest.mark.parametrize(
    "overlay, key",
    [
        ("study: " + "s" * 300, "study"),
        ("fixes: {" + "f" * 101 + ": {variants: {a: {}}}}", "fixes.fff"),
        ("fixes: {combined: {variants: {" + "v" * 200 + ": {}}}}", "fixes.combined.variants.vvv"),
    ],
)
def test_a_name_too_long_for_a_file_name_is_refused(overlay, key):
    text = refused(overlay)
    assert text.startswith(key) and "characters, more than 100" in text and "choose a shorter one" in text
    assert len(text) < 400
    refused_or_not = merged_config()
    update_config(refused_or_not, {"study": "s" * 100})
    validation.validate_config(refused_or_not, SCHEMA)  # 100 is fine


def test_a_config_file_that_is_not_utf8_is_named_with_the_byte_and_the_fix(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("study: first\n# café\n".encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        validation.check_config_file(path)
    text = str(err.value)
    assert f"config file {path} is not UTF-8 text: byte 0xe9 at line 2, column 6" in text and "iconv" in text
    validation.check_config_file(ROOT / "config.yaml")
    validation.check_config_file(tmp_path / "missing.yaml")  # left to Snakemake, which names it


@pytest.mark.e2e
def test_snakemake_with_a_config_yaml_that_is_not_utf8_stops_with_one_line(tmp_path):
    """Our Snakefile checks config.yaml; an overlay given with --configfile is read by Snakemake's command line
    before any of the workflow runs, and fails there with the decoder's traceback (docs/troubleshooting.md,
    "A bad config"): this test notices when Snakemake starts to say it in one line."""
    workdir = copy_project(tmp_path / "project")
    config = workdir / "config.yaml"
    config.write_bytes(config.read_bytes() + "# café\n".encode("latin-1"))
    result = subprocess.run([SNAKEMAKE, "-n"], cwd=workdir, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"config file {config} is not UTF-8 text: byte 0xe9" in output and "Traceback" not in output
    (workdir / "overlay.yaml").write_bytes("study: caf\xe9\n".encode("latin-1"))
    config.write_bytes((ROOT / "config.yaml").read_bytes())
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--configfile", "overlay.yaml"], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0 and "UnicodeDecodeError" in result.stdout + result.stderr  # before our code runs


def test_the_memory_of_a_training_job_follows_its_width_and_depth():
    config = validation.validate_config(merged_config(), SCHEMA)
    rule_mem = resources.train_mem_mb(config, study.FINAL, "baseline")

    class Wildcards:
        variant, lr, depth, seed = "sigmoid", "0.01", "7", "42"

    assert rule_mem(Wildcards) == 1500  # the default study asks for what it always did
    data, dataset = config["data"], FASHION_MNIST
    assert {run_mem_mb(study.spec_of(config, r), data, dataset) for r in study.screening_runs(config)} == {1500}
    wide = [
        run_mem_mb(specs.TrainSpec(model=specs.ModelSpec(depth=7, width=w)), data, dataset) for w in (1024, 2048, 4096)
    ]
    assert 1500 < wide[0] < wide[1] < wide[2] and wide[2] > 4 * 4096**2 * 6 * 10 / 2**20  # 10 copies of 100M weights
    assert run_mem_mb(specs.TrainSpec(model=specs.ModelSpec(depth=30, width=2048)), data, dataset) > wide[1] * 3
    # measured peaks (one epoch on a subset, this machine): 2048 x 7 with Adam 1,425 MB; the request is above it
    assert wide[1] >= 1.5 * 1425


def test_compare_names_a_folder_that_holds_no_run(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_:
        compare.main([str(tmp_path / "empty"), str(tmp_path / "other")])
    assert exit_.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"no run (no summary.json) under '{tmp_path / 'empty'}'" in message and "results/default/runs" in message


@pytest.mark.parametrize(
    "overlay, key, says",
    [
        ("data: {subset: {train: 1}}", "data.subset.train", "leaves 1 training image"),
        ("data: {validation_size: 59999}", "data.validation_size", "leaves 1 training image"),
        ("data: {subset: {test: 1}}", "data.subset.test", "which evaluates each split as one batch"),
        ("data: {subset: {validation: 1}}", "data.subset.validation", "which evaluates each split as one batch"),
    ],
)
def test_a_split_of_one_image_is_refused_where_a_configuration_normalises_over_the_batch(overlay, key, says):
    """Issue 28, item 11: a training subset of 1 passed the check and fix_normalization stopped with torch's
    'Expected more than 1 value per channel'."""
    text = refused(overlay)
    assert text.startswith(f"config key `{key}`") and says in text and "fixes.normalization.variants." in text
    assert "give at least 2" in text


def test_a_batch_of_one_is_refused_where_a_configuration_normalises_over_the_batch():
    text = refused("training: {batch_size: 1}")
    assert text.startswith("fixes.normalization.variants.batchnorm: batch_size 1 with norm: batchnorm")
    assert "give batch_size 2 or more" in text
    config = merged_config()
    update_config(config, {"data": {"subset": {"train": 2, "validation": 2, "test": 2}}})
    validation.validate_config(config, SCHEMA)  # two of each is enough


@pytest.mark.e2e
def test_until_a_final_training_rule_in_a_screened_study_stops_with_the_commands_that_work(tmp_path):
    """`--until train_baseline` exited 0 having run nothing (issue 28, item 6): Snakemake picks the --until jobs
    before the selection checkpoint adds the final runs. A study with every rate fixed plans them up front."""
    from workflow_helpers import planned_jobs, snakemake

    project = copy_project(tmp_path / "project")
    tiny = "study: {}\nselection: {{learning_rates: {{sgd: {}}}, check: []}}\ncomparison: {{reference: null}}\n"
    kept = {"screened": "weight_increasing", "fixed": None}  # the screened study keeps one fix, to name its rule
    for name, rates in (("screened", "[0.1, 0.01]"), ("fixed", "[0.1]")):
        fixes = ", ".join(f"{fix}: null" for fix in DEFAULT_FIXES if fix != kept[name])
        (project / f"{name}.yaml").write_text(tiny.format(name, rates) + f"fixes: {{{fixes}}}\n")
    for until in (("--until", "train_baseline"), ("--until=fix_weight_increasing",)):
        result = snakemake(project, "-n", "--configfile", "screened.yaml", *until, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0 and "study 'screened' screens its learning rates" in output, output
        assert "`snakemake --cores N --configfile screened.yaml --until learning_rates`" in output
    assert planned_jobs(project, "--configfile", "fixed.yaml", "--until", "train_baseline")["train_baseline"] > 0
