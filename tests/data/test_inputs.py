"""Listing data/raw: what is an input, what is dropped with a reason, which files include selects."""

from cptpipe.data.inputs import list_inputs, select_files


def test_symlinks_are_not_followed_out_of_raw(tmp_path):
    raw, outside = tmp_path / "raw", tmp_path / "outside"
    (raw / "real").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (raw / "real/doc.txt").write_text("doc")
    (raw / "link_out").symlink_to(outside)
    (raw / "link_in").symlink_to(raw / "real")
    (raw / "alias.txt").symlink_to(raw / "real/doc.txt")
    files, drops = list_inputs(raw)
    assert [f.relative_to(raw).as_posix() for f in files] == ["alias.txt", "real/doc.txt"]
    assert {(d.source, d.reason) for d in drops} == {("link_out/", "symlink_outside"), ("link_in/", "symlink_dir")}


def test_include_reads_only_matching_files(tmp_path):
    for rel in ("a/x.md", "a/y.md", "b/z.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("text")
    files, _ = list_inputs(tmp_path)
    kept, left_out = select_files(files, tmp_path, ["a/*"])
    assert [p.relative_to(tmp_path).as_posix() for p in kept] == ["a/x.md", "a/y.md"] and left_out == 1
    assert select_files(files, tmp_path, None) == (files, 0)
