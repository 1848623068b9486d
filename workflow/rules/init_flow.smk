# Gradient flow at initialisation: no training. Per-layer gradient norms and the Jacobian's spectrum of fresh networks
# of every configuration (the baseline and each fix variant) at the depths of `init_flow:`, over several seeds.


rule gradient_flow_at_init:
    input:
        data=DATASET,
    output:
        flow=LAYOUT.init_flow(),
        spectra=LAYOUT.study_tables()["init_spectra"],
    log:
        LAYOUT.log("init_flow.log"),
    benchmark:
        LAYOUT.benchmark("init_flow")
    conda:
        "../../envs/train.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        flow=study.init_flow_param(config),
        code=CODE["init_flow"],
        data=DATA,
    message:
        job_message("Measuring gradient flow at initialisation: {output}")
    script:
        "../../scripts/init_flow.py"
