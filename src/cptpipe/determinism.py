"""Deterministic torch kernels for the two stages that train (`model`'s pretraining, `train`'s loop)."""

from __future__ import annotations

import os


def deterministic_torch() -> None:
    """Equal inputs train equal bytes on one CPU kind (README "Reproducibility").

    warn_only: a GPU op without a deterministic kernel (some attention backwards) warns instead of
    failing the run. The cuBLAS workspace setting must be in place before the first GPU matmul; on
    CPU neither does anything: measured, the start model's bytes are the same with or without it.
    """
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
