"""specnorm-bench: spectral normalization in GANs (Lin, Sekar & Fanti, NeurIPS 2021), reproduced.

Subpackages mirror the science: ``nn`` (normalizations), ``models``, ``losses``, ``data``, ``train``,
``metrics``, ``analysis``, ``report``, ``cli``.
"""

from specnorm._tvcompat import ensure_torchvision_importable as _ensure_tv

__version__ = "0.1.0"
TV_SHIMMED = _ensure_tv()
