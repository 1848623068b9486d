"""The deep preset (studies/deep.yaml) end to end at smoke size: each configuration at its own depths (a variant's own
``variant_depths`` included), the Jacobian's spectra at initialisation, the per-layer-rate control beside the baseline,
and the report that shows them."""

import html
import json

import pytest
from conftest import merged_config
from test_workflow import visible_text
from workflow_helpers import copy_project, snakemake

from vanishing_gradients import study, validation
from vanishing_gradients.report import model
from vanishing_gradients.report.sections import depth, init_flow, phase, problem

pytestmark = pytest.mark.e2e  # the deep preset end to end, through Snakemake

SCHEMA = "workflow/schemas/config.schema.yaml"
OVERLAYS = ("studies/deep.yaml", "tests/deep-smoke.yaml")


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("project"))
    snakemake(project, "--cores", "2", "--configfile", *OVERLAYS)
    config = validation.validate_config(merged_config(*OVERLAYS), SCHEMA)
    results = project / "results" / config["study"]
    return config, model.load(str(results), json.loads(study.report_param(config))), results


def test_each_variant_trains_at_its_own_depths(deep_run):
    config, S, _ = deep_run
    trained = set(zip(S.fair_runs["group"], S.fair_runs["variant"], S.fair_runs["depth"], strict=True))
    assert trained == set(study.configurations(config))
    depths = lambda variant: sorted(d for g, v, d in trained if v == variant)  # noqa: E731
    assert depths("relu_kaiming") == [3, 6, 24] and depths("tanh_orthogonal") == [3, 24]  # variant_depths
    assert depths("tanh_unit") == [6] and depths("centred_orthogonal") == [3, 12, 24]  # their fix's depths
    assert S.fair_runs.groupby(["group", "variant", "depth"])["seed"].nunique().eq(len(config["seeds"])).all()


def test_the_report_shows_the_spectra_and_the_per_layer_rate_control(deep_run):
    _, S, results = deep_run
    spectra = S.tables["init_spectra"]
    centred = spectra[(spectra["variant"] == "centred_orthogonal") & (spectra["depth"] == 24)]
    edge = spectra[(spectra["variant"] == "edge_of_chaos") & (spectra["depth"] == 24)]
    assert len(centred) == 2 and (centred["sv_log_std"] < 1).all() and (edge["sv_log_std"] > 1).all()
    page = (results / "report/report.html").read_text()
    seen = visible_text(page)
    sentences = init_flow.spectra_sentences(S) + problem.layer_rate_sentences(S) + depth.depth_sentences(S)
    assert any(s.startswith("The control, a rate per layer") for s in sentences)
    assert any("singular values of the Jacobian" in s for s in sentences)
    for sentence in sentences:
        assert " ".join(sentence.split()) in seen, sentence
    unescaped = html.unescape(page)
    for cell in depth.depth_table(S).astype(str).to_numpy().ravel():
        assert f">{cell}</td>" in unescaped, cell
    assert 'alt="Two panels against depth (log scale). Left: the spread of the singular values' in page


def test_the_phase_diagram_trains_every_cell_and_the_report_tests_the_bound(deep_run):
    config, S, results = deep_run
    cells = S.tables["phase"]
    settings = config["phase"]
    expected = len(settings["centred"]) * len(settings["sigma_w2"]) * len(settings["depths"])
    assert len(cells) == expected * len(settings["learning_rates"]) * len(settings["seeds"])
    assert set(cells["depth"]) == set(settings["depths"]) and (cells["steps"] > 0).all()
    page = (results / "report/report.html").read_text()
    seen = visible_text(page)
    assert 'id="phase"' in page
    for sentence in phase.phase_sentences(S):
        assert " ".join(sentence.split()) in seen, sentence
    unescaped = html.unescape(page)
    for cell in phase.phase_table(S).astype(str).to_numpy().ravel():
        assert f">{cell}</td>" in unescaped, cell
