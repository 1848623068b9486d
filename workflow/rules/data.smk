# Fetch the four original Fashion-MNIST files, verify them, and cache the train/validation/test split.

# On a cluster the download runs where Snakemake runs: compute nodes often have no internet.
localrules:
    download_fashion_mnist,



rule download_fashion_mnist:
    output:
        RAW_FILES,
    params:
        mirrors=config["data"]["mirrors"],
    log:
        "logs/data/download_fashion_mnist.log",
    benchmark:
        "benchmarks/data/download_fashion_mnist.tsv"
    resources:
        mem_mb=500,
        runtime=30,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/download.py"


rule prepare_dataset:
    input:
        raw=RAW_FILES,
        code=str(LIBRARY / "data.py"),
    output:
        DATASET,
    params:
        validation_size=config["data"]["validation_size"],
        split_seed=config["data"]["split_seed"],
        subset=config["data"]["subset"],
    log:
        "logs/data/prepare_dataset.log",
    benchmark:
        "benchmarks/data/prepare_dataset.tsv"
    resources:
        mem_mb=1500,
        runtime=10,
    conda:
        "../../envs/data.yaml"
    script:
        "../../scripts/prepare.py"
