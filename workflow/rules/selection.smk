# Each configuration's learning rate, chosen from its screening runs on validation accuracy.


# A checkpoint: the final runs it chooses are known only once it has run. A screening run that changes rewrites
# the table; only a configuration whose chosen rate changed asks for new final runs (their paths name the rate).
# The dataset is an input although the script does not read it, and ancient: it only orders the checkpoint
# after the download (a new dataset reaches the choice through the screening runs, which read it). With no
# screening (every rate fixed) the checkpoint would otherwise finish while the download runs, and Snakemake 9.27
# then loses the jobs below an `ancient` input whose producer is still running (prepare_dataset's raw files):
# the run exits 0 having trained nothing.
checkpoint select_learning_rates:
    input:
        summaries=run_files("summary", study.SCREEN),
        data=ancient(DATASET),
    output:
        LAYOUT.selection(),
    log:
        LAYOUT.log("select_learning_rates.log"),
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        fixed=study.fixed_rates(config),
        code=CODE["select"],
    script:
        "../../scripts/select.py"
