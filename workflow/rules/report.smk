# Concatenate every run into tidy tables, then execute the report notebook with papermill and render HTML.


rule aggregate:
    input:
        summaries=run_files("summary.json"),  # each run writes its other tables beside it
        benchmarks=run_files("benchmark"),
    output:
        runs="results/aggregate/runs.csv",
        metrics="results/aggregate/metrics.csv",
        grad_steps="results/aggregate/grad_steps.parquet",
        grad_epochs="results/aggregate/grad_epochs.parquet",
    log:
        "logs/aggregate.log",
    benchmark:
        "benchmarks/aggregate.tsv"
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/aggregate.py"


rule report:
    input:
        notebook="reports/report.ipynb",
        template="reports/offline.html.j2",
        code=str(LIBRARY / "report.py"),
        runs=rules.aggregate.output.runs,
        metrics=rules.aggregate.output.metrics,
        grad_steps=rules.aggregate.output.grad_steps,
        grad_epochs=rules.aggregate.output.grad_epochs,
    output:
        html=report(
            "results/report/report.html",
            caption="../../reports/captions/report.rst",
            category="Report",
        ),
        gradient_profile=report(
            "results/report/gradient_profile.png",
            caption="../../reports/captions/gradient_profile.rst",
            category="Key figures",
        ),
        comparison=report(
            "results/report/comparison.png",
            caption="../../reports/captions/comparison.rst",
            category="Key figures",
        ),
    params:
        config=config,
        show_code=config["report"]["show_code"],
    log:
        notebook="logs/report/report.ipynb",
        log="logs/report/report.log",
    benchmark:
        "benchmarks/report.tsv"
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/render_report.py"
