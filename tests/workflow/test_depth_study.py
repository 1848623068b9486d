"""The depth preset (studies/depth.yaml) end to end at smoke size: the DAG trains every configuration at each depth
at its chosen rate, and the report leads with depth and shows the theory beside the measurement."""

import html
import json

import pytest
from conftest import merged_config
from test_workflow import visible_text
from workflow_helpers import copy_project, snakemake

from vanishing_gradients import study, validation
from vanishing_gradients.report import model, outline, theory
from vanishing_gradients.report.sections import depth, init_flow

pytestmark = pytest.mark.e2e  # the depth preset end to end, through Snakemake

SCHEMA = "workflow/schemas/config.schema.yaml"
OVERLAYS = ("studies/depth.yaml", "tests/depth-smoke.yaml")


@pytest.fixture(scope="module")
def depth_run(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("project"))
    snakemake(project, "--cores", "2", "--configfile", *OVERLAYS)
    return project


def load(project):
    config = validation.validate_config(merged_config(*OVERLAYS), SCHEMA)
    results = project / "results" / config["study"]
    return config, model.load(str(results), json.loads(study.report_param(config))), results


def test_depth_preset_trains_each_configuration_at_every_depth_and_reports_it(depth_run):
    config, S, results = load(depth_run)
    expected = {(g, v, d) for g, v, d in study.configurations(config)}
    assert set(zip(S.fair_runs["group"], S.fair_runs["variant"], S.fair_runs["depth"], strict=True)) == expected
    assert S.fair_runs.groupby(["group", "variant", "depth"])["seed"].nunique().eq(len(config["seeds"])).all()
    # every configuration at its own rate: the rate is the one the screen chose for that depth
    chosen = S.selection.set_index(["group", "variant", "depth"])["lr"]
    for r in S.fair_runs.itertuples():
        assert r.lr == chosen.loc[(r.group, r.variant, r.depth)]
    assert S.depth_sweep
    page = (results / "report/report.html").read_text()
    seen = visible_text(page)
    toc = outline.contents(S)
    assert toc[1][0] == "depth" and toc[1][1] == "2. How deep each configuration trains"  # after the answer
    for anchor, name, _ in toc:
        assert f'id="{anchor}"' in page and name in seen
    sentences = depth.depth_sentences(S) + init_flow.theory_sentences(S)
    assert any("trains" in s for s in sentences) and any("edge of chaos" in s for s in sentences)
    for sentence in sentences:
        assert " ".join(sentence.split()) in seen, sentence
    unescaped = html.unescape(page)
    for frame in (depth.depth_table(S), init_flow.theory_table(S)):
        for cell in frame.astype(str).to_numpy().ravel():
            assert f">{cell}</td>" in unescaped, cell
    assert 'alt="Two panels. Left: test accuracy against depth' in page


def test_the_edge_of_chaos_network_is_predicted_to_keep_its_gradient(depth_run):
    _, S, _ = load(depth_run)
    rows = theory.beside(S).set_index("label")
    edge = rows.loc["weight_increasing/edge_of_chaos"]
    assert edge["covered"] and edge["chi_1"] == pytest.approx(1.0, abs=1e-3)
    assert not rows.loc["normalization/batchnorm", "covered"]
    lines = theory.predicted_lines(S)
    assert set(lines["label"]) == set(rows.index[rows["covered"]])
