"""Make the PyPI torchvision wheel importable on CPU-only torch (the one place this is handled).

torchvision 0.28.0 on PyPI is a CUDA build: its ``_C.so`` links ``libtorch_cuda.so``, so on the CPU
torch wheel ``import torchvision`` dies registering fake kernels for ops that never loaded
(``operator torchvision::nms does not exist``). No CPU wheel or sdist exists. We pre-fill the two
registration modules with empty stand-ins; torchvision then imports with its pure-Python paths
(transforms, utils.save_image, datasets). With CUDA torch the ops load and nothing is touched.
See ``shared/reference/environment.md``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types


def ensure_torchvision_importable() -> bool:
    """Return True when the shim was applied, False when nothing needed doing."""
    if "torchvision" in sys.modules:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    import torch

    try:
        torch.ops.load_library(os.path.join(os.path.dirname(spec.origin), "_C.so"))
        return False
    except (OSError, ImportError, RuntimeError):
        pass
    for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
        sys.modules.setdefault(name, types.ModuleType(name))
    return True
