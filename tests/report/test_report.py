import json

from cptpipe.report.build import build_report
from cptpipe.report.compare import markdown_table, rows_from_exp_show


def write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_report_has_table_ranges_warnings_and_readable_plots(tmp_path):
    r = tmp_path / "reports"
    write(r / "eval/start/metrics.json", {"domain_qa": {"em": 0.0, "f1": 0.1}, "domain_qa_mc": {"acc": 0.25},
                                          "replay": {"ppl": 50.0, "bits_per_byte": 1.2}, "instruct": {"follow": 0.1},
                                          "skipped": [{"task": "hellaswag", "reason": "ConnectionError: offline"}]})
    write(r / "eval/cpt/metrics.json", {"domain_qa": {"em": 0.2, "f1": 0.3}, "domain_qa_mc": {"acc": 0.5},
                                        "replay": {"ppl": 60.0, "bits_per_byte": 1.3}, "instruct": {"follow": 0.1}})
    write(r / "train/summary.json", {"recipe": "pit", "start_kind": "base", "lr": 3e-4, "lr_source": "preset:base",
                                     "steps": 20, "tokens": 1000, "batch_size": 4, "grad_accum": 1, "seq_len": 64,
                                     "warnings": ["train.lr=0.001 is outside the recommended range"],
                                     "phases": [{"name": "qa", "first_step": 1, "last_step": 8, "steps": 8},
                                                {"name": "docs", "first_step": 9, "last_step": 20, "steps": 12}]})
    (r / "train/plots/metrics/train").mkdir(parents=True)
    (r / "train/plots/metrics/train/loss.tsv").write_text(
        "timestamp\tstep\tloss\n" + "".join(f"0\t{s}\t{5 - s / 10}\n" for s in range(1, 21)))
    write(r / "mix.json", {"phases": [
        {"name": "qa", "sources": {"qa": {"used": 500, "requested": 500, "share": 1.0, "repeats": 2.0}}},
        {"name": "docs", "sources": {"domain": {"used": 920, "requested": 920, "share": 0.92, "repeats": 0.0},
                                     "replay": {"used": 80, "requested": 80, "share": 0.08, "repeats": 0.0}}}]})
    metrics, md = build_report(r, r / "plots")
    assert metrics["absorption"]["mc_gain"] == 0.25 and metrics["forgetting"]["ppl_ratio"] == 1.2
    assert "| held-out QA multiple choice acc | 0.25 | 0.5 | 0.25 |" in md
    assert "0.90-0.95" in md and "0.0001..0.0005" in md
    assert "lm-eval task `hellaswag` skipped" in md and "outside the recommended range" in md
    assert "| qa | 8 |" in md and "| docs | 12 |" in md
    for png in ("train_loss.png", "qa_by_type.png", "forgetting.png"):
        assert (r / "plots" / png).read_bytes()[:4] == b"\x89PNG"


def test_compare_rows_from_exp_show_json():
    def entry(rev, name, lr, em):
        return {"rev": rev, "name": name, "error": None, "experiments": None,
                "data": {"params": {"params.yaml": {"data": {"train": {"lr": lr, "recipe": "cpt"}}}},
                         "metrics": {"reports/metrics.json": {"data": {"cpt": {"domain_qa": {"em": em}}}}}}}

    show = [entry("workspace", None, None, 0.1),
            {**entry("abcdef123", "main", None, 0.1),
             "experiments": [{"revs": [entry("0123456789", "exp-lr", 2e-4, 0.3)]}]}]
    rows = rows_from_exp_show(show)
    assert [r["name"] for r in rows] == ["workspace", "main", "exp-lr"]
    table = markdown_table(rows)
    assert "| exp-lr | 0123456 | cpt | – | 0.0002 |" in table and "| 0.3 |" in table
