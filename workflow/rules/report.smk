# Concatenate every run into tidy tables, then execute the report notebook with papermill and render HTML.


rule aggregate:
    input:
        final=run_files("summary", study.FINAL),  # each run writes its other tables beside it
        screen=run_files("summary", study.SCREEN),
        final_benchmarks=run_files("benchmark", study.FINAL),
        screen_benchmarks=run_files("benchmark", study.SCREEN),
    output:
        # Each table also goes into `snakemake --report`, with a caption that says what its rows are.
        **{
            name: report(
                path,
                caption=f"../../reports/captions/aggregate_{name}.rst",
                category="Aggregate tables",
                labels={"table": Path(path).name},
            )
            for name, path in LAYOUT.aggregate().items()
        },
    log:
        LAYOUT.log("aggregate.log"),
    benchmark:
        LAYOUT.benchmark("aggregate")
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        code=CODE["aggregate"],
    message:
        job_message("Collecting every run's records into the aggregate tables")
    script:
        "../../scripts/aggregate.py"


rule report:
    input:
        **LAYOUT.report_tables(),  # every table of registry.report(): the aggregate's and the study's
        **PHASE_TABLES,  # the phase diagram's, where the study has one (phase.smk)
        # Not the notebook and its template: their content is in the `code` param, with the report package's, and
        # as inputs (by absolute path, for `snakemake -d`) a project folder moved elsewhere reran the report.
    output:
        html=report(
            f"{LAYOUT.report_dir()}/report.html",
            caption="../../reports/captions/report.rst",
            category="Report",
        ),
        gradient_profile=report(
            f"{LAYOUT.report_dir()}/gradient_profile.png",
            caption="../../reports/captions/gradient_profile.rst",
            category="Key figures",
        ),
        comparison=report(
            f"{LAYOUT.report_dir()}/comparison.png",
            caption="../../reports/captions/comparison.rst",
            category="Key figures",
        ),
    log:
        notebook=LAYOUT.log("report/report.ipynb"),
        log=LAYOUT.log("report/report.log"),
    benchmark:
        LAYOUT.benchmark("report")
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        config=study.report_param(config),
        show_code=config["report"]["show_code"],
        code=CODE["report"],
    message:
        job_message("Writing the report: {output.html}")
    script:
        "../../scripts/render_report.py"
