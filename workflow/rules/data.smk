# Downloads run on the login node (localrules) into the resources folder, checksummed by the
# specnorm commands; compute jobs only read what these rules left there (issue 5, point 5).

localrules:
    prepare,
    fetch_inception,


rule prepare:
    """Download (md5-checked) and prepare one dataset into <resources>/data/<name>/ (images.npy +
    manifest.json, written last); config.yaml's `sources` gives a local archive instead."""
    output:
        f"{RESOURCES}/data/{{dataset}}/manifest.json",
    log:
        "results/logs/prepare/{dataset}.log",
    params:
        root=f"{RESOURCES}/data",
        source=lambda w: (f"--source {shell_quote(config['sources'][w.dataset])}"
                          if w.dataset in (config.get("sources") or {}) else ""),
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "{SPECNORM} prepare --dataset {wildcards.dataset} --root {params.root} {params.source} > {log} 2>&1"


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
        "{SPECNORM} fetch-inception {params.source} --resources {RESOURCES} > {log} 2>&1"
