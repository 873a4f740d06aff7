"""Progress bars that also show up in `dvc repro` logs (not a TTY): fewer, slower updates there."""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(iterable=None, **kwargs) -> tqdm:
    tty = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.5 if tty else 15.0)
    kwargs.setdefault("dynamic_ncols", tty)
    return tqdm(iterable, **kwargs)
