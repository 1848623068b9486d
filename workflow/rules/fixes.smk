# One rule per fix in the config (fix_<name>): the same training script, the fix's own variants and depths.
# Adding a fix to `fixes:` in config.yaml adds its rule; see README, "Adding a fix".

for fix in config["fixes"]:

    rule:
        name:
            f"fix_{fix}"
        input:
            data=DATASET,
            code=TRAINING_CODE,
        output:
            **run_outputs(fix),
        params:
            spec=run_spec(fix),
            device=config["device"],
        log:
            f"logs/train/{fix}/{{variant}}/depth{{depth}}/seed{{seed}}.log",
        benchmark:
            f"benchmarks/train/{fix}/{{variant}}/depth{{depth}}/seed{{seed}}.tsv"
        threads: config["threads"]
        priority: train_priority(fix)
        resources:
            mem_mb=1500,
            runtime=train_runtime(fix),
            gpu=GPU,
        conda:
            "../../envs/train.yaml"
        script:
            "../../scripts/train.py"
