# One rule per training group, all from this one template: `train_baseline` (the sigmoid/SGD baselines at
# every depth and learning rate) and `fix_<name>` for every entry of `fixes:` in the config (see README,
# "Adding a fix"). Each job trains one run: one variant at one depth and seed.

for group in study.groups(config):

    rule:
        name:
            study.rule_name(group)
        input:
            data=DATASET,
            code=TRAINING_CODE,
        output:
            **run_outputs(group),
        log:
            run_pattern(group).log,
        benchmark:
            run_pattern(group).benchmark
        priority: train_priority(group)
        conda:
            "../../envs/train.yaml"
        threads: config["threads"]
        resources:
            mem_mb=study.train_mem_mb(config, group),
            runtime=train_runtime(group),
            gpu=GPU,
        params:
            run=run_id(group),
            spec=run_spec(group),
            device=config["device"],
        script:
            "../../scripts/train.py"
