import json

from cptpipe.report.compare import markdown_table, rows_from_exp_show
from cptpipe.report.compose import breakdown, build_report


def write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def report(r, *args, **kwargs):
    """build_report on the report stage's inputs laid out under r as dvc.yaml passes them."""
    evals = {"start": r / "eval/start", "cpt": r / "eval/cpt"}
    return build_report(evals, r / "train", r / "mix.json", r / "plots", *args, **kwargs)


def test_report_has_table_ranges_warnings_and_readable_plots(tmp_path):
    r = tmp_path / "reports"
    write(
        r / "eval/start/metrics.json",
        {
            "domain_qa": {"em": 0.0, "f1": 0.1},
            "domain_qa_mc": {"acc": 0.25},
            "replay": {"ppl": 50.0, "bits_per_byte": 1.2},
            "instruct": {"follow": 0.1},
            "skipped": [{"task": "hellaswag", "reason": "ConnectionError: offline"}],
        },
    )
    write(
        r / "eval/cpt/metrics.json",
        {
            "domain_qa": {"em": 0.2, "f1": 0.3},
            "domain_qa_mc": {"acc": 0.5},
            "replay": {"ppl": 60.0, "bits_per_byte": 1.3},
            "instruct": {"follow": 0.1},
        },
    )
    write(
        r / "train/summary.json",
        {
            "recipe": "pit",
            "start_kind": "base",
            "lr": 3e-4,
            "lr_source": "preset:base",
            "lr_range": [1e-4, 5e-4],
            "steps": 20,
            "tokens": 1000,
            "batch_size": 4,
            "grad_accum": 1,
            "seq_len": 64,
            "warnings": ["train.lr=0.001 is outside the recommended range"],
            "phases": [
                {
                    "name": "qa",
                    "first_step": 1,
                    "last_step": 8,
                    "steps": 8,
                    "lr": 1e-4,
                    "lr_source": "recipe",
                    "warmup": 0.05,
                    "decay": "cosine",
                },
                {
                    "name": "docs",
                    "first_step": 9,
                    "last_step": 20,
                    "steps": 12,
                    "lr": 3e-4,
                    "lr_source": "preset:base",
                    "warmup": 0.05,
                    "decay": "linear",
                },
            ],
        },
    )
    (r / "train/plots/metrics/train").mkdir(parents=True)
    (r / "train/plots/metrics/train/loss.tsv").write_text(
        "timestamp\tstep\tloss\n" + "".join(f"0\t{s}\t{5 - s / 10}\n" for s in range(1, 21))
    )
    write(
        r / "mix.json",
        {
            "phases": [
                {
                    "name": "qa",
                    "budget": "2 passes over qa",
                    "tokens": 500,
                    "sources": {"qa": {"used": 500, "requested": 500, "share": 1.0, "share_requested": 1.0}},
                },
                {
                    "name": "docs",
                    "budget": "1000 tokens",
                    "tokens": 1000,
                    "sources": {
                        "domain": {"used": 920, "requested": 920, "share": 0.92, "share_requested": 0.92},
                        "replay": {"used": 80, "requested": 80, "share": 0.08, "share_requested": 0.08},
                    },
                },
            ]
        },
    )
    metrics, md = report(r)
    assert metrics["absorption"]["mc_gain"] == 0.25 and metrics["forgetting"]["ppl_ratio"] == 1.2
    assert "| held-out QA multiple choice acc | 0.25 | 0.5 | 0.25 |" in md
    assert "0.90-0.95" in md and "0.0001..0.0005" in md
    assert "lm-eval task `hellaswag` skipped" in md and "outside the recommended range" in md
    assert "| qa | 2 passes over qa | 0 | 100.0% (100.0%) | 0 | 0 | 500 | 8 | 0.0001 (recipe) | 0.05, cosine |" in md
    assert "| docs | 1000 tokens | 92.0% (92.0%) | 0 | 8.0% (8.0%) | 0 | 1000 | 12 | 0.0003 (preset:base) |" in md
    assert "–" not in md.split("## What ran")[1].split("## Warnings")[0]
    for png in ("train_loss.png", "qa_by_type.png", "qa_by_kind.png", "forgetting.png"):
        assert (r / "plots" / png).read_bytes()[:4] == b"\x89PNG"


def test_compare_rows_from_exp_show_json():
    def entry(rev, name, lr, em):
        return {
            "rev": rev,
            "name": name,
            "error": None,
            "experiments": None,
            "data": {
                "params": {"params.yaml": {"data": {"train": {"lr": lr, "recipe": "cpt"}}}},
                "metrics": {"reports/metrics.json": {"data": {"cpt": {"domain_qa": {"em": em}}}}},
            },
        }

    show = [
        entry("workspace", None, None, 0.1),
        {
            **entry("abcdef123", "main", None, 0.1),
            "experiments": [{"revs": [entry("0123456789", "exp-lr", 2e-4, 0.3)]}],
        },
    ]
    rows = rows_from_exp_show(show)
    assert [r["name"] for r in rows] == ["workspace", "main", "exp-lr"]
    table = markdown_table(rows)
    assert "| exp-lr | 0123456 | cpt | – | 0.0002 |" in table and "| 0.3 |" in table


def test_report_rows_for_reasoning_and_summary_and_em_by_answer_kind_and_relation(tmp_path):
    r = tmp_path / "reports"
    by_kind = {
        "start": {"year": {"em": 0.0, "n": 4}, "place": {"em": 0.5, "n": 2}},
        "cpt": {"year": {"em": 0.75, "n": 4}, "place": {"em": 0.5, "n": 2}},
    }
    by_relation = {"start": {"born_year": {"em": 0.0, "n": 4}}, "cpt": {"born_year": {"em": 0.25, "n": 4}}}
    for which, em in (("start", 0.1), ("cpt", 0.4)):
        write(
            r / f"eval/{which}/metrics.json",
            {
                "domain_qa": {"em": em, "f1": em},
                "domain_qa_mc": {"acc": 0.3},
                "domain_qa_seen": {"em": em, "f1": em},
                "domain_qa_reasoning": {"em": em / 2, "f1": em},
                "domain_qa_summary": {"f1": em + 0.1},
                "replay": {"ppl": 50.0, "bits_per_byte": 1.2},
                "instruct": {"follow": 0.1},
                "domain_qa_by_kind": by_kind[which],
                "domain_qa_by_relation": by_relation[which],
                "n": {"domain_qa_gen": 6, "domain_qa_reasoning": 2, "domain_qa_summary": 1},
            },
        )
        # per-sample files as the eval stage writes them: F1 by question type feeds qa_by_type.png
        for task, qtype in (
            ("domain_qa_gen", "factual"),
            ("domain_qa_reasoning", "reasoning"),
            ("domain_qa_summary", "summarization"),
        ):
            (r / f"eval/{which}/samples_{task}.jsonl").write_text(
                json.dumps({"doc": {"type": qtype}, "f1": em, "em": 0.0}) + "\n"
            )
    metrics, md = report(r)
    assert metrics["cpt"]["domain_qa_reasoning"] == {"em": 0.2, "f1": 0.4}
    assert metrics["cpt"]["domain_qa_summary"] == {"f1": 0.5}
    assert metrics["cpt"]["domain_qa"] == {"em": 0.4, "f1": 0.4}  # existing names unchanged
    assert "domain_qa_by_kind" not in metrics["cpt"] and "domain_qa_by_relation" not in metrics["start"]
    assert "| held-out reasoning QA exact match | 0.05 | 0.2 | 0.15 |" in md
    assert "| held-out reasoning QA token F1 | 0.1 | 0.4 | 0.3 |" in md
    assert "| held-out summary token F1 | 0.2 | 0.5 | 0.3 |" in md
    assert "## Held-out factual QA by answer kind" in md
    assert "| place | 2 | 0.5 | 0.5 | 0 |" in md and "| year | 4 | 0 | 0.75 | 0.75 |" in md
    assert "## Held-out factual QA by relation" in md and "| born_year | 4 | 0 | 0.25 | 0.25 |" in md
    assert "![QA by answer kind](plots/qa_by_kind.png)" in md
    for png in ("qa_by_kind.png", "qa_by_type.png"):
        assert (r / "plots" / png).read_bytes()[:4] == b"\x89PNG"


def test_breakdown_pairs_start_and_cpt_per_group():
    start = {"domain_qa_by_kind": {"year": {"em": 0.0, "n": 4}}}
    cpt = {"domain_qa_by_kind": {"year": {"em": 0.5, "n": 4}, "org": {"em": 1.0, "n": 1}}}
    assert breakdown(start, cpt, "domain_qa_by_kind") == {
        "org": {"cpt": 1.0, "n": 1},
        "year": {"start": 0.0, "cpt": 0.5, "n": 4},
    }
    assert breakdown({}, {}, "domain_qa_by_kind") == {}


def test_report_states_family_size_context_precision_and_eval_setup(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=64, n_embd=16, n_layer=1, n_head=2))
    model.save_pretrained(tmp_path / "cpt")
    r = tmp_path / "reports"
    write(r / "train/summary.json", {"recipe": "cpt", "start_kind": "base", "precision": "bf16", "seq_len": 64})
    setup = {"backend": "hf", "model_args": {"dtype": "bfloat16"}, "batch_size": "auto"}
    _, md = report(r, tmp_path / "cpt", setup)
    n = sum(p.numel() for p in model.parameters())  # the tied LM head counts once, as stored
    assert f"| parameters | {n / 1e6:,.2f}M |" in md
    assert "| family | gpt2 (GPT2LMHeadModel) |" in md
    assert "| context | 64 (config n_positions); trained on 64-token blocks |" in md
    assert "| train precision | bf16 |" in md
    assert '| eval | lm-eval backend hf, dtype bfloat16, batch auto, model_args {"dtype": "bfloat16"} |' in md
