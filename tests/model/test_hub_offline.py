"""A hub id under HF_HUB_OFFLINE=1 (what the Makefile exports): pinned from the cache, or one command to run."""

import pytest

from cptpipe.errors import UserError
from cptpipe.model.hub import cached_revision, hub_offline, pin_model

SHA = "0123456789abcdef0123456789abcdef01234567"


def fake_cache(root, repo_id="org/tiny"):
    """The layout huggingface_hub writes: refs/main names the snapshot folder of that commit."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SHA)
    (repo / "snapshots" / SHA).mkdir(parents=True)
    (repo / "snapshots" / SHA / "config.json").write_text("{}")
    return root


def test_offline_flag_reads_the_environment(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not hub_offline()


def test_a_cached_model_is_pinned_offline_to_its_snapshot(tmp_path):
    cache = fake_cache(tmp_path)
    assert cached_revision("org/tiny", None, cache_dir=cache) == SHA
    assert cached_revision("org/other", None, cache_dir=cache) is None


def test_a_model_not_cached_names_the_command_that_downloads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(UserError, match=r"make repro HF_HUB_OFFLINE=0"):
        pin_model("org/not-here", None)
    fake_cache(tmp_path)
    assert pin_model("org/tiny", None) == {"name_or_path": "org/tiny", "source": "hub", "revision": SHA}
