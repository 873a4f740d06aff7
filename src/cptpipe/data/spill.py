"""The scan's spill folder, read back by any worker: per task a sorted Arrow run of the kept rows
(documents.write_run) and their MinHash signatures (sig-*.npy, same order); the dedup passes'
files beside them (data/partitions.py).

A document's global index is its row in the concatenation of all runs in task order (the order of
ingest's index). Workers, not the main process, read signatures and texts from here, so no process
holds all signatures; on a cluster the folder must be on storage every node mounts.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from cptpipe.data.documents import RUN_BATCH, RunTexts, run_path


def sig_path(spill_dir: Path, task: int) -> Path:
    return spill_dir / f"sig-{task:06d}.npy"


@dataclass(frozen=True)
class Spill:
    """Where each task's rows start in the global index (picklable: shipped to workers)."""

    dir: Path
    tasks: tuple[int, ...]  # task numbers that kept rows, in task order
    starts: tuple[int, ...]  # global index of each one's first row, then the total

    def locate(self, i: int) -> tuple[int, int]:
        """(task, row in its run) of global index i."""
        k = bisect.bisect_right(self.starts, i) - 1
        return self.tasks[k], i - self.starts[k]

    def run_of(self, ids: np.ndarray) -> np.ndarray:
        """locate's first step for many global indexes: the position in `tasks` of each one's run."""
        return np.searchsorted(np.asarray(self.starts), ids, side="right") - 1

    def locate_all(self, ids: np.ndarray) -> list[tuple[int, int]]:
        """locate for many global indexes at once."""
        k = self.run_of(ids)
        return list(zip(np.asarray(self.tasks)[k].tolist(), (ids - np.asarray(self.starts)[k]).tolist()))


class SpillTexts:
    """The text of global index i (for exact Jaccard); picklable, its open files are not shipped."""

    def __init__(self, spill: Spill):
        self.spill = spill
        self._runs: RunTexts | None = None

    def __call__(self, i: int) -> str:
        if self._runs is None:
            self._runs = RunTexts(self.spill.dir)
        return self._runs.text(*self.spill.locate(i))

    def __getstate__(self) -> dict:
        return {"spill": self.spill, "_runs": None}


def rows_at(spill_dir: Path, where: list[tuple[int, int]]) -> list[dict]:
    """The rows at (task, row) positions, in the order given; each needed batch is decoded once."""
    batches: dict[tuple[int, int], list[int]] = defaultdict(list)
    for task, row in where:
        batches[(task, row // RUN_BATCH)].append(row)
    found: dict[tuple[int, int], dict] = {}
    for task in sorted({t for t, _ in batches}):
        with pa.OSFile(str(run_path(spill_dir, task))) as f, pa.ipc.open_file(f) as reader:  # no map: see RunTexts
            for (t, b), rows in batches.items():
                if t == task:
                    batch = reader.get_batch(b).to_pylist()
                    found.update(((task, r), batch[r % RUN_BATCH]) for r in rows)
    return [found[w] for w in where]
