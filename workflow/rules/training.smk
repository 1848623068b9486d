# Two rules per training group, all from this one template: `train_baseline` and `fix_<name>` (the sigmoid/SGD
# baselines at every depth, and every entry of `fixes:` in the config; see docs/configuration.md, "Adding a fix") train the
# full-budget runs; `screen_baseline` and `screen_<name>` train their learning-rate screen. Each job trains one
# run: one variant at one learning rate, depth and seed. The checkpoint rule `select_learning_rates` reads the
# screen and chooses each configuration's rate, which decides the final runs that the aggregate asks for.

for phase in (study.SCREEN, study.FINAL):
    for group in study.groups(config):

        rule:
            name:
                study.rule_name(group, phase)
            input:
                data=DATASET,
            output:
                **run_outputs(phase, group),
            log:
                run_pattern(phase, group).log,
            benchmark:
                run_pattern(phase, group).benchmark
            priority: train_priority(phase, group)
            conda:
                "../../envs/train.yaml"
            threads: config["threads"]
            resources:
                mem_mb=resources.train_mem_mb(config, phase, group),
                runtime=train_runtime(phase, group),
                gpu=GPU,
            params:
                run=run_id(phase, group),
                spec=run_spec(phase, group),
                device=config["device"],
                code=CODE["train"],
                data=DATA,
            message:
                job_message(
                    f"{'Screening' if phase == study.SCREEN else 'Training'} {group} {{wildcards.variant}}, "
                    "lr {wildcards.lr}, depth {wildcards.depth}, seed {wildcards.seed}"
                )
            script:
                "../../scripts/train.py"
