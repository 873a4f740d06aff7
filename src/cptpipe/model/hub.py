"""A hub id under HF_HUB_OFFLINE (the Makefile exports it): pin it from the local cache, or say how to fetch it."""

from __future__ import annotations

import os
from pathlib import Path

from cptpipe.errors import UserError
from cptpipe.model.start import pin_model as pin_now

TRUE = {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE is set (as huggingface_hub reads it)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in TRUE


def cached_revision(repo_id: str, revision: str | None, cache_dir: str | Path | None = None) -> str | None:
    """The commit sha of `repo_id` at `revision` (default main) in the local hub cache; None if not cached."""
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached (LocalEntryNotFoundError and kin): the caller explains
        return None
    return Path(path).name  # <cache>/models--org--name/snapshots/<commit sha>


def not_cached_message(repo_id: str) -> str:
    """What to run once so that the offline runs after it find the model."""
    return (
        f"model.name_or_path: cannot resolve hub id {repo_id!r} offline: it is not in the local Hugging Face "
        "cache, and HF_HUB_OFFLINE=1 (the Makefile sets it). Download and pin it once with "
        "`make repro HF_HUB_OFFLINE=0`; later runs work offline. Or save the model with save_pretrained "
        "to a local directory and set model.name_or_path to it"
    )


def pin_model(name_or_path: str, revision: str | None) -> dict:
    """`start.pin_model`, except that under HF_HUB_OFFLINE a hub id is pinned to its cached snapshot.

    Lives here, not in start.py, so that only the model stage depends on it (tokenize, train and eval
    read start.py).
    """
    if not hub_offline() or Path(name_or_path).is_dir() or name_or_path.count("/") != 1:
        return pin_now(name_or_path, revision)
    sha = cached_revision(name_or_path, revision)
    if sha is None:
        raise UserError(not_cached_message(name_or_path))
    return {"name_or_path": name_or_path, "source": "hub", "revision": sha}
