"""Which files under data/raw are inputs: regular files of a known format, in sorted order; every
other entry (hidden, README, links leading out, unknown formats, devices) is a drop with a reason."""

from __future__ import annotations

import fnmatch
import os
import stat
from pathlib import Path

from cptpipe.data.documents import Drop
from cptpipe.data.readers import KNOWN_EXTS


def list_inputs(raw_dir: Path) -> tuple[list[Path], list[Drop]]:
    """Regular files under raw_dir in sorted order; everything else becomes a drop with a reason.

    Symlinks are read only when they stay inside raw_dir; linked folders are not entered (their
    files are read at their real place, if that is inside raw_dir).
    """
    files, drops = [], []
    root = raw_dir.resolve()
    for dirpath, dirnames, filenames in os.walk(raw_dir, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames):
            p = here / name
            rel = p.relative_to(raw_dir).as_posix() + "/"
            if name.startswith("."):
                drops.append(Drop(rel, "hidden", "folder not read"))
            elif p.is_symlink():
                drops.append(_symlink_drop(p, rel, root, "symlink_dir"))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (here / d).is_symlink())
        for name in sorted(filenames):
            p = here / name
            rel = p.relative_to(raw_dir).as_posix()
            if name.startswith("."):
                drops.append(Drop(rel, "hidden"))
            elif name == "README.md" and here == raw_dir:
                drops.append(Drop(rel, "readme", "data/raw/README.md describes the corpus; not a document"))
            elif p.is_symlink() and (d := _symlink_drop(p, rel, root, None)) is not None:
                drops.append(d)
            elif p.suffix.lower() not in KNOWN_EXTS:
                drops.append(Drop(rel, "unknown_extension", p.suffix.lower() or "(none)"))
            elif not _is_regular(p):
                drops.append(Drop(rel, "not_a_file", "fifo, socket or device"))
            else:
                files.append(p)
    files.sort(key=lambda p: p.relative_to(raw_dir).as_posix())
    return files, drops


def select_files(files: list[Path], raw_dir: Path, include: list[str] | None) -> tuple[list[Path], int]:
    """The files matching any `include` glob (paths relative to raw_dir; all when None) and how many
    were left out: a subset of the corpus without moving files (the study trains on one)."""
    if include is None:
        return files, 0
    keep = [p for p in files if any(fnmatch.fnmatch(p.relative_to(raw_dir).as_posix(), g) for g in include)]
    return keep, len(files) - len(keep)


def _symlink_drop(p: Path, rel: str, root: Path, inside_reason: str | None) -> Drop | None:
    target = p.resolve()
    if not target.exists():
        return Drop(rel, "broken_symlink", os.readlink(p))
    if target != root and root not in target.parents:
        return Drop(rel, "symlink_outside", "not followed: points outside data/raw")
    return Drop(rel, inside_reason, f"not followed: {target.relative_to(root)}") if inside_reason else None


def _is_regular(p: Path) -> bool:
    try:
        return stat.S_ISREG(p.stat().st_mode)  # a FIFO would block the reader forever
    except OSError:
        return True  # let the reader report it as unreadable
