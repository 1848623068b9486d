# Fetch the raw files of the study's dataset (`data.name`, its record in datasets.py; shared by every study),
# verify them, and cache the study's train/validation/test split.


# No params, no code hash: the mirror list decides where the files come from, not what they are, and so does the
# download code (each file is checked against fixed checksums of its decompressed content), so editing either
# must not rerun anything. The script reads the mirrors from the config. `update`: Snakemake does not delete the
# files before a rerun, and the download leaves each one that verifies as it is (no rewrite). The rule is named
# after the dataset: download_fashion_mnist.
rule:
    name:
        f"download_{DATASET_RECORD.name}"
    output:
        [update(path) for path in RAW_FILES],
    log:
        LAYOUT.download_log(),
    benchmark:
        LAYOUT.download_benchmark()
    # On a cluster the download runs where Snakemake runs: compute nodes often have no internet. (A rule
    # flag, not `localrules:`, which would miss the rule's new name when the workflow is used as a module.)
    localrule: True
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=500,
        runtime=30,
    message:
        job_message(f"Fetching and checking the {DATASET_RECORD.name} files")
    script:
        "../../scripts/download.py"


# The raw files are ancient inputs: their content is fixed (the dataset record, in the data param) and checked again here,
# so a download that reran, or another study's, never makes this study's data out of date. `update` and the
# script keep a cache whose content would not change as it is.
rule prepare_dataset:
    input:
        raw=ancient(RAW_FILES),
    output:
        update(DATASET),
    log:
        LAYOUT.log("data/prepare_dataset.log"),
    benchmark:
        LAYOUT.benchmark("data/prepare_dataset")
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        validation_size=config["data"]["validation_size"],
        split_seed=config["data"]["split_seed"],
        subset=config["data"]["subset"],
        code=CODE["prepare"],
    message:
        job_message("Preparing the train/validation/test split: {output}")
    script:
        "../../scripts/prepare.py"


# `--forcerun prepare_dataset` (-R, or the cache's path) reruns every job below the preparation, whatever the cache
# then holds: Snakemake reruns everything below a forced job. An `ancient` cache input would stop that, but then
# Snakemake 9.27 never looks at the jobs below it for reasons of their own (a changed `data` param went unplanned).
# Said where it is asked for (on_command_line: common.smk), with the command that prepares the cache alone.
if {"prepare_dataset", DATASET}.intersection(on_command_line("-R", "--forcerun")):
    print(
        f"Note: --forcerun prepare_dataset retrains every run of study {config['study']!r} below it, even if the "
        "data come out the same (Snakemake reruns every job below a forced one). To prepare the data again alone "
        f"(its runs then stay up to date if the content is the same), run `snakemake --cores 1 --force {DATASET}` "
        "instead, then `snakemake`.",
        file=sys.stderr,
    )
