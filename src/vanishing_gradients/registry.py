"""Every result file of a study, each named once: its name, file, format and producer (torch-free).

Three places hold them:

- ``RUN``: the files a training job writes into its run folder (``layout.RunId.outputs``);
- ``aggregate()``: ``results/<study>/aggregate/``, the runs table and every run table marked ``aggregated``,
  concatenated over the runs by ``aggregate.aggregate`` (each in the format and under the name of its run table);
- ``STUDY``: the study's tables that are no run's, each below ``results/<study>/``.

``layout`` builds every path from these lists, ``aggregate`` concatenates what they mark, ``outputs`` writes
the run tables, ``compare`` diffs them, ``api`` loads them, and the report reads ``report()`` (its rule,
``scripts/render_report.py`` and the notebook's loader). Each reads them when it runs, not when it is imported,
so a table added here reaches all of them. A new table is one entry here and its producer: a new run table
also needs the code that fills it (``outputs.save_run`` writes each run table from the run's records of that
name, ``training.RunLog.frame``), a study table its rule.
"""

from __future__ import annotations

from dataclasses import dataclass

TABULAR = ("csv", "parquet")  # the formats storage.read_table and storage.write_table know


@dataclass(frozen=True)
class Table:
    name: str  # the name every consumer uses: a rule's output and input name, a key of the report's loader
    file: str  # its path below its place (a run folder, aggregate/, the study folder)
    producer: str  # the code (and rule) that writes it
    aggregated: bool = False  # a run table the aggregate concatenates over the full-budget runs...
    screen: bool = False  # ...and over the screening runs too

    @property
    def format(self) -> str:
        """csv, parquet, json (a summary) or pt (weights): the file's suffix."""
        return self.file.rsplit(".", 1)[-1]

    @property
    def tabular(self) -> bool:
        return self.format in TABULAR


SUMMARY = Table("summary", "summary.json", "outputs.save_run: the run's identity, results and settings")
MODEL = Table("model", "model.pt", "outputs.save_run: the trained weights, a state_dict")
RUN = (
    Table(
        "metrics",
        "metrics.csv",
        "outputs.save_run: per epoch, train/validation loss and accuracy (rules train_*, fix_*, screen_*)",
        aggregated=True,
        screen=True,
    ),
    Table(
        "grad_steps",
        "grad_steps.parquet",
        "outputs.save_run from gradstats.GradientRecorder's records (gradstats.steps_frame): per step and layer",
        aggregated=True,
    ),
    Table(
        "grad_epochs",
        "grad_epochs.parquet",
        "outputs.save_run from the callbacks' epoch records (gradstats.epochs_frame): per epoch, layer, statistic",
        aggregated=True,
    ),
    SUMMARY,
    MODEL,
)
RUNS = Table(
    "runs", "runs.csv", "aggregate.aggregate: one row per run of both phases, from summary.json and its benchmark"
)
STUDY = (
    Table("init_flow", "init_flow/grad_norms.parquet", "initflow.measure (rule gradient_flow_at_init)"),
    Table("init_spectra", "init_flow/jacobian_spectra.parquet", "initflow.measure (rule gradient_flow_at_init)"),
    Table("selection", "selection/learning_rates.csv", "selection.select (checkpoint select_learning_rates)"),
)
# Study tables that only a study asking for them has (its config key set): their rules exist only there, and the
# report reads each where it is given (``layout.optional_tables``), and shows its section only then.
PHASE = Table(
    "phase",
    "phase/cells.parquet",
    "phase_training.measure per column (rule phase_column), concatenated by phase.gather (rule phase_table)",
)
OPTIONAL = (PHASE,)


def run_tables(screen: bool = False) -> list[Table]:
    """The run tables the aggregate concatenates: over the full-budget runs, or (``screen``) the screening runs."""
    return [t for t in RUN if t.aggregated and (t.screen or not screen)]


def aggregate() -> list[Table]:
    """The aggregate's tables: the runs table, then every aggregated run table."""
    producer = "aggregate.aggregate: every run's {}"
    return [RUNS, *(Table(t.name, t.file, producer.format(t.file), screen=t.screen) for t in run_tables())]


def report() -> list[Table]:
    """What the report reads: the aggregate's tables and the study's."""
    return [*aggregate(), *STUDY]


def names(tables) -> list[str]:
    return [t.name for t in tables]
