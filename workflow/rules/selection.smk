# Each configuration's learning rate, chosen from its screening runs on validation accuracy.


# A checkpoint: the final runs it chooses are known only once it has run. A screening run that changes rewrites
# the table; only a configuration whose chosen rate changed asks for new final runs (their paths name the rate).
checkpoint select_learning_rates:
    input:
        summaries=run_files("summary", study.SCREEN),
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
