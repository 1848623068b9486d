# The sigmoid's phase diagram (`phase:`; a study without it has none of these rules): sigmoid networks, plain and
# centred, at each weight scale and depth, trained briefly with SGD. One job per column (a centring and a sigma_w^2),
# so that the cores share them; a local step gathers the columns into the table the report reads.
from vanishing_gradients import phase as phase_diagram  # not `phase`: training.smk's loop variable

# The report's input: the phase table, where the study has one (report.smk).
PHASE_TABLES = {"phase": LAYOUT.phase()} if config["phase"] else {}

if config["phase"]:

    rule phase_column:
        input:
            data=DATASET,
        output:
            LAYOUT.phase_column("{centring}", "{sigma_w2}"),
        log:
            LAYOUT.log("phase/{centring}_sw{sigma_w2}.log"),
        benchmark:
            LAYOUT.benchmark("phase/{centring}_sw{sigma_w2}")
        wildcard_constraints:
            centring="|".join(phase_diagram.CENTRING.values()),
            sigma_w2=r"[0-9][0-9.e+-]*",
        conda:
            "../../envs/train.yaml"
        threads: config["threads"]
        resources:
            mem_mb=phase_diagram.mem_mb(config),
            runtime=phase_diagram.runtime(config),
            gpu=GPU,
        params:
            cells=lambda wildcards: phase_diagram.column_param(config, wildcards.centring, wildcards.sigma_w2),
            device=config["device"],
            code=CODE["phase"],
            data=DATA,
        message:
            job_message("Phase diagram: the {wildcards.centring} sigmoid at sigma_w^2 {wildcards.sigma_w2}")
        script:
            "../../scripts/phase_diagram.py"

    # Each column read back checked, concatenated: seconds, so it runs where Snakemake runs.
    rule phase_table:
        input:
            [LAYOUT.phase_column(centring, sigma) for centring, sigma in phase_diagram.columns(config)],
        output:
            LAYOUT.phase(),
        log:
            LAYOUT.log("phase/phase_diagram.log"),
        localrule: True
        params:
            code=CODE["phase"],
        message:
            job_message("Phase diagram: gathering its columns into {output}")
        run:
            with open(log[0], "w") as handle:
                phase_diagram.gather(list(input), output[0], lambda text: print(text, file=handle))
