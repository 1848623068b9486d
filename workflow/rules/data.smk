# Fetch the raw files of the study's dataset (`data.name`, its record in datasets.py; shared by every study),
# verify them, and cache the study's train/validation/test split.


# No params: the mirror list decides where the files come from, not what they are (each is checked by
# content), so editing it must not rerun anything. The script reads it from the config. The rule is named
# after the dataset: download_fashion_mnist.
rule:
    name:
        f"download_{DATA.name}"
    output:
        RAW_FILES,
    log:
        LAYOUT.download_log(),
    benchmark:
        LAYOUT.download_benchmark()
    # On a cluster the download runs where Snakemake runs: compute nodes often have no internet. (A rule
    # flag, not `localrules:`, which would miss the rule's new name when the workflow is used as a module.)
    localrule: True
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=500,
        runtime=30,
    script:
        "../../scripts/download.py"


rule prepare_dataset:
    input:
        raw=RAW_FILES,
        code=str(LIBRARY / "data.py"),
    output:
        DATASET,
    log:
        LAYOUT.log("data/prepare_dataset.log"),
    benchmark:
        LAYOUT.benchmark("data/prepare_dataset")
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        validation_size=config["data"]["validation_size"],
        split_seed=config["data"]["split_seed"],
        subset=config["data"]["subset"],
    script:
        "../../scripts/prepare.py"
