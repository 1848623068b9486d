# Each configuration's learning rate, chosen from its screening runs on validation (selection.py: the protocol).


# A checkpoint per selection round: the runs a round asks for are known only once the round before it has run.
# Round 0 screens the declared grid; a choice at the grid's edge is extended outward and screened in the next
# round, up to selection.extend.times rounds. Only a configuration whose chosen rate changes asks for new final
# runs (their paths name the rate). The dataset is an input although the script does not read it, and ancient:
# it only orders the checkpoint after the download. With no screening (every rate fixed) the checkpoint would
# otherwise finish while the download runs, and Snakemake 9.27 then loses the jobs below an `ancient` input whose
# producer is still running (prepare_dataset's raw files): the run exits 0 having trained nothing.
checkpoint select_learning_rates:
    input:
        summaries=screen_files("summary"),
        metrics=screen_files("metrics"),
        data=ancient(DATASET),
    output:
        LAYOUT.selection_round("{round}"),
    log:
        LAYOUT.log("select_learning_rates.round{round}.log"),
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        fixed=study.fixed_rates(config),
        protocol=study.selection_param(config),
        code=CODE["select"],
    message:
        job_message("Choosing learning rates, round {wildcards.round}")
    script:
        "../../scripts/select.py"


# The study's rate table: the last round's, checked (its digests, its configurations, its rates) as it is copied.
rule learning_rates:
    input:
        LAYOUT.selection_round(ROUNDS),
    output:
        LAYOUT.selection(),
    log:
        LAYOUT.log("learning_rates.log"),
    localrule: True
    message:
        job_message("Learning rates chosen: {output}")
    run:
        copy_checked_rates(input[0], output[0], log[0])


# `--until train_baseline` (or a fix's rule) in a study that screens its rates: Snakemake picks the --until jobs
# before the selection checkpoints add the final runs, so it finds none and exits 0 having run nothing, even once
# the rates are chosen (`--omit-from aggregate` likewise drops them). Stopped here with the commands that work
# (read from the command line, as -R in data.smk).
_UNTIL_FINAL = sorted(
    {study.rule_name(group) for group in study.groups(config)}.intersection(on_command_line("--until"))
)
if _UNTIL_FINAL and SCREENED:
    _snakemake = " ".join(["snakemake --cores N", *(f"--configfile {f}" for f in on_command_line("--configfile"))])
    raise WorkflowError(
        f"--until {' '.join(_UNTIL_FINAL)}: study {config['study']!r} screens its learning rates, and Snakemake "
        "picks the --until jobs before the screen's choice adds the final runs, so it would run nothing. Screen "
        f"and choose the rates with `{_snakemake} --until learning_rates` ({LAYOUT.selection()}), then the rest "
        f"of the study with `{_snakemake}` (every group's final runs; a finished run is not trained again)."
    )
