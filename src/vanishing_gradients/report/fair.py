"""The fair comparison, computed: the declared family of comparisons with their verdicts (once per study), the
ranking against the reference, and each configuration's course rate. No prose (``sections.comparison`` and
``sections.rates`` say it), no plotting.

Every configuration is trained at its own rate, chosen on the screen's validation accuracy; every run's test
accuracy is taken at its best validation epoch.
"""

from __future__ import annotations

import math

import pandas as pd

from .evidence import verdicts
from .model import ReportData
from .stats import CONFIG_KEYS


def comparisons(study: ReportData) -> pd.DataFrame:
    """The declared family of comparisons with their verdicts (``evidence.verdicts``), computed once per study:
    every sentence, table and figure that states a comparison reads this one table."""
    return study.memo("comparisons", lambda: verdicts(study))


def ranking(study: ReportData) -> pd.DataFrame:
    """Every configuration against the reference at its depth (the reference's own row first, difference 0),
    ordered by the difference; without a declared reference, every fix against the baseline at its depth."""
    table = comparisons(study)
    ref = (study.config.get("comparison") or {}).get("reference")
    against = table[table["against"] == ("against the reference" if ref else "against the baseline")]
    if against.empty:
        return against
    tops = []
    for b in dict.fromkeys(against["b"]):
        top = {c: math.nan for c in table.columns} | {"a": b, "b": b, "against": "reference" if ref else "baseline"}
        tops.append(top | {"kind": "accuracy", "diff": 0.0, "verdict": "", "seeds_a": 0, "seeds_b": 0})
    out = pd.concat([pd.DataFrame(tops), against], ignore_index=True)
    return out.sort_values("diff", ascending=False, kind="stable").reset_index(drop=True)


def course_rates(study: ReportData, sel: pd.DataFrame) -> list[float]:
    rates = study.all_runs.drop_duplicates(CONFIG_KEYS).set_index(CONFIG_KEYS)["course_lr"]
    return [rates.get(key, math.nan) for key in zip(sel["group"], sel["variant"], sel["depth"], strict=True)]
