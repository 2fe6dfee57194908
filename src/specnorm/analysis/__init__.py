"""Analysis: the theory checks of §3–§5 (``specnorm theory``, :mod:`specnorm.analysis.theory`) and the
per-layer quantities the trainer logs (docs/design.md#analysis-quantities, :func:`layer_analysis`)."""

from specnorm.analysis.quantities import ANALYSIS_COLUMNS, layer_analysis

__all__ = ["ANALYSIS_COLUMNS", "layer_analysis"]
