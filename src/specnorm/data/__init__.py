"""Datasets of the benchmark, prepared once into checked uint8 NCHW arrays, and the real-batch
sampler of the official trainer (docs/design.md#datasets, docs/design.md#real-batches).

``DATASETS`` lists them (``digits`` is built in and the pipeline default); ``prepare`` downloads
(checksummed, atomic) and preprocesses; ``load`` returns the checked array; ``RealImages`` puts it
where the training iteration reads it; ``to_float`` maps uint8 to [−1, 1].
"""

from specnorm.data.errors import ChecksumError, DataError, SourceMissingError, StoreError
from specnorm.data.preparation import load, prepare
from specnorm.catalog import DATASETS, DatasetInfo
from specnorm.data.sampler import RealImages, to_float

__all__ = [
    "DATASETS", "RealImages", "ChecksumError", "DataError", "DatasetInfo", "SourceMissingError",
    "StoreError", "load", "prepare", "to_float",
]
