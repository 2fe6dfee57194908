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


rule download:
    """Find or download (md5-checked) one dataset's raw source into <resources>/data/<name>/raw/,
    recorded in raw/source.json; config.yaml's `sources` gives a local archive or folder instead."""
    output:
        f"{RESOURCES}/data/{{dataset}}/raw/source.json",
    log:
        "results/logs/download/{dataset}.log",
    params:
        root=f"{RESOURCES}/data",
        source=source_arg,
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "{SPECNORM} prepare --dataset {wildcards.dataset:q} --root {params.root:q} {params.source} --download-only "
        "> {log:q} 2>&1"


rule prepare:
    """Decode one downloaded dataset into <resources>/data/<name>/ (images.npy + manifest.json,
    written last) as a compute job: CPU threads, no GPU, no network (--no-download)."""
    input:
        ancient(f"{RESOURCES}/data/{{dataset}}/raw/source.json"),
    output:
        f"{RESOURCES}/data/{{dataset}}/manifest.json",
    log:
        "results/logs/prepare/{dataset}.log",
    params:
        root=f"{RESOURCES}/data",
        source=source_arg,
    threads: 8
    resources:
        mem_mb=lambda w: int(JOBS["mem_mb"].get(w.dataset, JOBS["mem_mb"]["default"])),  # config.yaml jobs
        runtime=short_runtime,
        **SITE,
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "{SPECNORM} prepare --dataset {wildcards.dataset:q} --root {params.root:q} {params.source} --no-download "
        "--workers {threads} > {log:q} 2>&1"


rule fetch_inception:
    """The Inception weights (sha256-checked) into <resources>/inception/, downloaded or copied from
    config.yaml's `inception` path."""
    output:
        INCEPTION,
    log:
        "results/logs/fetch_inception.log",
    params:
        source=lambda w: f"--from {shell_quote(config['inception'])}" if config.get("inception") else "",
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "{SPECNORM} fetch-inception {params.source} --resources {RESOURCES_Q} > {log:q} 2>&1"
