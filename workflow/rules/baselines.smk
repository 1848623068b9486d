# The failing baselines: sigmoid MLPs trained with plain SGD at every depth and learning rate in the config.


rule train_baseline:
    input:
        data=DATASET,
        code=TRAINING_CODE,
    output:
        **run_outputs("baseline"),
    params:
        spec=run_spec("baseline"),
        device=config["device"],
    log:
        "logs/train/baseline/{variant}/depth{depth}/seed{seed}.log",
    benchmark:
        "benchmarks/train/baseline/{variant}/depth{depth}/seed{seed}.tsv"
    threads: config["threads"]
    priority: train_priority("baseline")
    resources:
        mem_mb=1500,
        runtime=train_runtime("baseline"),
        gpu=GPU,
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/train.py"
