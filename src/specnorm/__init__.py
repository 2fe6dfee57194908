"""specnorm-bench: spectral normalization in GANs (Lin, Sekar & Fanti, NeurIPS 2021), reproduced.

Subpackages mirror the science: ``nn`` (normalizations), ``models``, ``losses``, ``data``, ``train``,
``metrics``, ``analysis``, ``report``, ``grid``, ``cli``; over a torch-free ground floor: ``vocab``
(the cell's words), ``catalog`` (datasets and feature extractors by name), ``rundir`` (the files of a
run), ``config``, ``io`` and ``provenance`` (docs/design.md#vocabulary). Importing the package
imports no torch.
"""

__version__ = "0.1.0"
