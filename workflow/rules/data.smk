# Downloads run on the login node (localrules) into the resources folder, checksummed by the
# specnorm commands; decoding a dataset is a compute job (CPU only) that reads what `download` left
# there without touching the network (docs/pipeline.md#downloads).

localrules:
    download,
    fetch_inception,


def source_arg(wildcards):
    """`--source PATH` for a dataset config.yaml's `sources` gives a local copy of."""
    sources = config.get("sources") or {}
    return f"--source {shell_quote(sources[wildcards.dataset])}" if wildcards.dataset in sources else ""


# `specnorm prepare` of one dataset: --download-only on the login node, --no-download as a job.
PREPARE_SHELL = "{SPECNORM} prepare --dataset {wildcards.dataset:q} --root {DATA_Q} {params.source}"


rule download:
    """Find or download (md5-checked) one dataset's raw source into <resources>/data/<name>/raw/,
    recorded in raw/source.json; config.yaml's `sources` gives a local archive or folder instead."""
    output:
        RES.source_record("{dataset}"),
    log:
        RESULTS.log("download", "{dataset}"),
    params:
        source=source_arg,
    conda:
        "../../envs/specnorm.yaml"
    shell:
        PREPARE_SHELL + " --download-only > {log:q} 2>&1"


rule prepare:
    """Decode one downloaded dataset into <resources>/data/<name>/ (images.npy + manifest.json,
    written last) as a compute job: CPU threads, no GPU (a CPU partition where
    SPECNORM_SLURM_CPU_PARTITION names one), no network (--no-download)."""
    input:
        ancient(rules.download.output[0]),
    output:
        RES.manifest("{dataset}"),
    log:
        RESULTS.log("prepare", "{dataset}"),
    params:
        source=source_arg,
    threads: 8
    resources:
        mem_mb=lambda w: grid.dataset_mem_mb(w.dataset, JOBS),  # config.yaml jobs
        runtime=short_runtime,
        **CPU_SITE,
    conda:
        "../../envs/specnorm.yaml"
    shell:
        PREPARE_SHELL + " --no-download --workers {threads} > {log:q} 2>&1"


rule fetch_inception:
    """The Inception weights (sha256-checked) into <resources>/inception/, downloaded or copied from
    config.yaml's `inception` path."""
    output:
        INCEPTION,
    log:
        RESULTS.log("fetch_inception"),
    params:
        source=lambda w: f"--from {shell_quote(config['inception'])}" if config.get("inception") else "",
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "{SPECNORM} fetch-inception {params.source} --resources {RESOURCES_Q} > {log:q} 2>&1"
