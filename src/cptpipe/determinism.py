"""Deterministic torch kernels for the two stages that train (`model`'s pretraining, `train`'s loop)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


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


@contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Run the block on one CPU thread, then restore the thread count.

    On an Intel Xeon (AVX-512) the scratch model's pretraining wrote different weights with 1, 2 and
    3 threads (the CPU kernels split their reductions by thread count), so a model stage's bytes
    depended on OMP_NUM_THREADS; on an AMD EPYC they did not. The ~3M-parameter model gains little
    from a second thread.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
