"""The report, rendered from a small synthetic aggregate: sections, figures, and numbers equal to the data's."""

import html
import math
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from vanishing_gradients import report

GROUPS = {"baseline": ["lr0.01", "lr0.5"], "normalization": ["batchnorm"], "skip_connection": ["course"]}
DEPTHS = [3, 5, 7]
SEEDS = [1, 2]


def synthetic_aggregate(out):
    rng = np.random.default_rng(0)
    runs, metrics, steps, epochs = [], [], [], []
    for group, variants in GROUPS.items():
        for variant in variants:
            for depth in DEPTHS:
                for seed in SEEDS:
                    keys = {"group": group, "variant": variant, "depth": depth, "seed": seed}
                    acc = float(rng.uniform(0.1, 0.9))
                    runs.append(
                        {
                            **keys,
                            "test_loss": float(rng.uniform(0.3, 2.3)),
                            "test_acc": acc,
                            "best_val_acc": acc + 0.01,
                            "final_val_acc": acc,
                            "epochs_run": 3,
                            "grad_ratio_first_last": float(10 ** rng.uniform(-6, 0)),
                            "diverged": False,
                            "diverged_epoch": None,
                            "train_seconds": 3.0,
                            "device": "cpu",
                            "threads": 1,
                            "torch": "2.14.1",
                            "python": "3.11.7",
                            "activation": "sigmoid",
                            "optimizer": "sgd",
                            "lr": 0.5 if variant == "lr0.5" else 0.01,
                            "epochs": 3,
                            "wall_s": float(rng.uniform(5, 9)),
                            "max_rss_mb": float(rng.uniform(700, 900)),
                        }
                    )
                    layers = [f"hidden{i}" for i in range(1, depth + 1)] + ["output"]
                    for epoch in (1, 2, 3):
                        metrics.append(
                            {
                                **keys,
                                "stage": 1,
                                "epoch": epoch,
                                "train_loss": 2.0 / epoch,
                                "train_acc": acc,
                                "val_loss": 2.1 / epoch,
                                "val_acc": acc,
                                "seconds": 1.0,
                            }
                        )
                        for i, layer in enumerate(layers):
                            norm = 10.0 ** (i - depth) * epoch
                            for step in range(3):
                                steps.append(
                                    {
                                        **keys,
                                        "stage": 1,
                                        "epoch": epoch,
                                        "step": (epoch - 1) * 3 + step,
                                        "layer": layer,
                                        "grad_norm": norm * (1 + 0.1 * step),
                                    }
                                )
                            for stat, value in (
                                ("grad_norm", norm),
                                ("grad_abs_mean", norm / 100),
                                ("weight_norm", 5.0),
                                ("update_ratio", 1e-3),
                            ):
                                epochs.append(
                                    {
                                        **keys,
                                        "stage": 1,
                                        "epoch": epoch,
                                        "layer": layer,
                                        "statistic": stat,
                                        "value": value,
                                    }
                                )
                            if layer != "output":
                                epochs.append(
                                    {
                                        **keys,
                                        "stage": 1,
                                        "epoch": epoch,
                                        "layer": layer,
                                        "statistic": "saturation",
                                        "value": 0.1 * i,
                                    }
                                )
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "runs": out / "runs.csv",
        "metrics": out / "metrics.csv",
        "grad_steps": out / "grad_steps.parquet",
        "grad_epochs": out / "grad_epochs.parquet",
    }
    pd.DataFrame(runs).to_csv(tables["runs"], index=False)
    pd.DataFrame(metrics).to_csv(tables["metrics"], index=False)
    pd.DataFrame(steps).to_parquet(tables["grad_steps"], index=False)
    pd.DataFrame(epochs).to_parquet(tables["grad_epochs"], index=False)
    return {k: str(v) for k, v in tables.items()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    tables = synthetic_aggregate(tmp / "aggregate")
    out = tmp / "report.html"
    report.render(
        str(ROOT / "reports/report.ipynb"),
        str(tmp / "executed.ipynb"),
        str(out),
        tables,
        config={"seeds": SEEDS, "training": {"lr": 0.01}},
    )
    return out, pd.read_csv(tables["runs"])


def test_mean_ci_is_the_t_interval():
    mean, half = report.mean_ci(pd.Series([1.0, 2.0, 3.0, 4.0]))
    assert mean == 2.5 and half == pytest.approx(3.182 * np.std([1, 2, 3, 4], ddof=1) / 2)
    assert math.isnan(report.mean_ci(pd.Series([5.0]))[1])


def test_report_has_every_section_and_figure(rendered):
    page, _ = rendered
    text = html.unescape(page.read_text())
    for heading in (
        "Contents",
        "1. Setup",
        "2. The problem",
        "3. The fixes",
        "4. Comparison",
        "5. Cost",
        "6. Conclusions",
        "Fix 4: normalisation inside the network",
        "Fix 5: skip connections",
    ):
        assert heading in text
    for anchor in (
        "setup",
        "problem",
        "fixes",
        "fix-normalization",
        "fix-skip_connection",
        "comparison",
        "cost",
        "conclusions",
    ):
        assert f'id="{anchor}"' in text and f'href="#{anchor}"' in text
    assert "2 seeds (1, 2)" in text and "95% confidence intervals" in text
    assert "Is it the learning rate?" in text  # two baseline learning rates: the lr x depth figure is shown
    # 5 problem figures + lr figure + per fix and depth: curves, profile, heatmap (2 x 3 x 3) + ranked + cost
    figures = re.findall(r'<img [^>]*src="data:image/png;base64,', text)
    assert len(figures) == 5 + 1 + 18 + 2
    assert 'src="http' not in text


def test_tables_hold_the_numbers_of_the_aggregate(rendered):
    page, runs = rendered
    text = html.unescape(page.read_text())
    for (group, variant, depth), frame in runs.groupby(["group", "variant", "depth"]):
        acc = frame["test_acc"]
        half = 3.182 * 0 + 12.706 * acc.std(ddof=1) / np.sqrt(2)  # two seeds: t(0.975, 1 dof) = 12.706
        assert f"{100 * acc.mean():.2f} ± {100 * half:.2f}" in text, (group, variant, depth)
        ratio = frame["grad_ratio_first_last"].mean()
        assert f"{ratio:.3g}" in text
    best = runs.groupby(["group", "variant", "depth"])["test_acc"].mean().idxmax()
    best_acc = runs.groupby(["group", "variant", "depth"])["test_acc"].mean().max()
    assert f"Best run: {best[0]}/{best[1]} at depth {best[2]} with test accuracy {100 * best_acc:.2f}%" in text
    assert f"{runs['wall_s'].sum() / 60:.1f} min" in text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="apt-get install chromium")
def test_report_opens_in_headless_chromium(rendered, tmp_path):
    page, _ = rendered
    shot = tmp_path / "shot.png"
    cmd = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,4000",
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert shot.stat().st_size > 50_000, "the screenshot is nearly empty"
    console_errors = [l for l in result.stderr.splitlines() if "CONSOLE" in l and "ERROR" in l.upper()]
    assert not console_errors, console_errors
    assert "net::ERR" not in result.stderr, "the page tried to load something it could not"
    # The DOM after loading holds every figure as an embedded image
    dom = subprocess.run(cmd[:-2] + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom.stdout)) == 26
    from PIL import Image

    image = Image.open(shot).convert("L")
    pixels = np.asarray(image)
    assert pixels.std() > 20, "the screenshot is blank"
