"""The pipeline's folders (docs/outputs.md#pipeline-outputs, docs/pipeline.md): every path under
``results/`` and ``resources/`` by one name each, as :class:`specnorm.rundir.RunDir` names the files
of one run directory. Torch-free: the workflow, the report and the metrics take their paths from here.

``results/``: ``cells/<cell>.yaml`` (a cell's config), ``runs/<cell>/`` (its run directory),
``logs/<kind>/<name>.log`` (a job's log), ``logs/failed-cells.txt`` / ``logs/unfinished-cells.txt``
(what a run left behind, docs/pipeline.md#partial-reports), ``theory/theory-<mode>.csv``,
``tables/`` and ``real/<dataset>-<protocol>.json`` (Table 1's Real-data row).
``resources/``: ``data/<name>/`` (``raw/`` as downloaded, ``images.npy`` + ``manifest.json`` as
prepared), the extractors' weights (their catalogue ``weights_file``) and ``fid_stats/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESULTS = "results"
RESOURCES = "resources"
REPORT = "report"
"""Default roots (``specnorm report --out``: ``report/index.html`` and ``report/figures/``)."""

MANIFEST_FILE = "manifest.json"
"""A prepared dataset's manifest, written last (``specnorm.data.store``)."""
ARRAY_FILE = "images.npy"
"""A prepared dataset's images (uint8 NCHW)."""
RAW = "raw"
"""A dataset's raw source as found or downloaded (``specnorm prepare --download-only``)."""
SOURCE_RECORD = "source.json"
"""What ``--download-only`` found or fetched, in ``raw/``."""
INDEX = "index.html"


@dataclass(frozen=True)
class Results:
    """The ``results/`` folder of a pipeline (``root``, ``results`` by default)."""

    root: Path = Path(RESULTS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def cells(self) -> Path:
        return self.root / "cells"

    def cell_config(self, cell: str) -> Path:
        """``cells/<cell>.yaml``: the cell's full config (the workflow's ``cell_config`` rule)."""
        return self.cells / f"{cell}.yaml"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def run(self, cell: str) -> Path:
        """``runs/<cell>``: the cell's run directory (its files: :class:`specnorm.rundir.RunDir`)."""
        return self.runs / cell

    def run_file(self, cell: str, name: str) -> Path:
        """A file of a cell's run directory, by its :mod:`specnorm.rundir` name."""
        return self.run(cell) / name

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, kind: str, name: str | None = None) -> Path:
        """``logs/<kind>/<name>.log`` (a job's log: train, score, …), or ``logs/<kind>.log``."""
        return self.logs / kind / f"{name}.log" if name is not None else self.logs / f"{kind}.log"

    @property
    def failed_cells(self) -> Path:
        """Cells whose job (or a job they need) ended in error, one per line (docs/pipeline.md#partial-reports)."""
        return self.logs / "failed-cells.txt"

    @property
    def unfinished_cells(self) -> Path:
        """Cells a stopped run left unfinished: never started or interrupted, not failed."""
        return self.logs / "unfinished-cells.txt"

    @property
    def theory_dir(self) -> Path:
        return self.root / "theory"

    def theory(self, mode: str) -> Path:
        """``theory/theory-<mode>.csv``: ``specnorm theory`` run by the workflow (quick, full)."""
        return self.theory_dir / f"theory-{mode}.csv"

    @property
    def default_theory(self) -> Path:
        """``theory/theory.csv``: where ``specnorm theory`` writes without ``--out``."""
        return self.theory_dir / "theory.csv"

    def latest_theory(self) -> Path:
        """The theory CSV to show: the full checks over the quick ones, else ``specnorm theory``'s
        own default (docs/pipeline.md#the-dag)."""
        return next((p for p in (self.theory("full"), self.theory("quick")) if p.is_file()), self.default_theory)

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def real_dir(self) -> Path:
        return self.root / "real"

    def real(self, dataset: str, protocol: str) -> Path:
        """``real/<dataset>-<protocol>.json``: Table 1's Real-data scores (``specnorm score --real``)."""
        return self.real_dir / f"{dataset}-{protocol}.json"


@dataclass(frozen=True)
class Resources:
    """The ``resources/`` folder (``root``, ``resources`` by default): downloads, prepared datasets,
    extractor weights and reference statistics. Compute jobs only read it, except ``fid_stats/``."""

    root: Path = Path(RESOURCES)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def data(self) -> Path:
        """``data/``: ``specnorm prepare --root`` (``dataset.root`` of every cell)."""
        return self.root / "data"

    def dataset(self, name: str) -> Path:
        return self.data / name

    def manifest(self, name: str) -> Path:
        """``data/<name>/manifest.json``: present only once the dataset is completely prepared."""
        return self.dataset(name) / MANIFEST_FILE

    def raw(self, name: str) -> Path:
        return self.dataset(name) / RAW

    def source_record(self, name: str) -> Path:
        """``data/<name>/raw/source.json``: the raw source is there (the workflow's ``download`` rule)."""
        return self.raw(name) / SOURCE_RECORD

    def weights(self, weights_file: str) -> Path:
        """An extractor's weights, at its catalogue ``weights_file`` (``specnorm.catalog``)."""
        return self.root / weights_file

    @property
    def fid_stats(self) -> Path:
        """``fid_stats/``: cached reference statistics (``specnorm.metrics.reference``)."""
        return self.root / "fid_stats"
