"""lm-eval task configs generated per run from cptpipe's held-out data.

Each task is a plain lm-eval config (dataset_path: json + data_files as the stage gives the paths:
relative to the repository root), written as YAML next to its data so any number can be rerun by
hand with `lm_eval`, and passed as a dict to `simple_evaluate` (callables instead of `!function` strings).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from cptpipe.data.documents import read_documents
from cptpipe.data.sources import read_instruct, read_replay
from cptpipe.eval import scoring
from cptpipe.eval.passkey import passkey_docs
from cptpipe.metric_table import with_role
from cptpipe.params import EvalParams
from cptpipe.prompts import format_answer, format_prompt, stop_sequences

MC_CHOICES = 4  # metrics.yaml states the chance level, 1 / MC_CHOICES (check_mc_chance)
QA_TYPES_SCORED = ("factual",)  # domain_qa_gen/_mc/_seen: the facts absorption is about
# Held-out items of the other types, each its own task (own rows in the report, never mixed into EM)
QA_TYPE_TASKS = {"reasoning": "domain_qa_reasoning", "summarization": "domain_qa_summary"}
SUMMARY_TOKENS_FACTOR = 3  # a one-sentence summary needs ~3x the short-answer generation budget


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")


def relation(template: str) -> str:
    """The relation of a QA template id: "factual/born_year/2" -> "born_year"."""
    parts = template.split("/")
    return parts[1] if len(parts) >= 3 else template


def qa_docs(
    qa_file: Path, tokenizer, limit: int | None, seed: int, types: tuple[str, ...] = QA_TYPES_SCORED
) -> list[dict]:
    """QA rows of the given types as task docs, a seeded sample of `limit` when capped."""
    rows = [r for r in pq.read_table(qa_file).to_pylist() if r["type"] in types]
    if limit is not None and len(rows) > limit:
        rows = random.Random(seed).sample(rows, limit)
        rows.sort(key=lambda r: r["qa_id"])
    return [
        {
            "qa_id": r["qa_id"],
            "doc_id": r["doc_id"],
            "type": r["type"],
            "answer_kind": r["answer_kind"],
            "relation": relation(r["template"]),
            "question": r["question"],
            "answer": r["answer"],
            "prompt": format_prompt(r["question"], tokenizer),
        }
        for r in rows
    ]


_SENTENCE_START = re.compile(r"(?:[.!?]\s+|\n\s*)(?=\S)")


def cloze_prompt(text: str, answer: str) -> str | None:
    """The document's first line and the sentence that first states `answer`, cut just before it.

    "# Athobar Briskholt\n\nAthobar Briskholt was an engineer born in" for the answer "Ossengate":
    the model completes its own document's sentence, so this reads what training *stored*, while the
    question reads what it can *extract*. None when the answer never follows a word inside a
    sentence of the body (nothing to complete).
    """
    head, sep, body = text.partition("\n")
    if not sep:
        head, body = "", text
    for m in re.finditer(rf"(?:(?<=\w )|(?<=\w[,;:] )){re.escape(answer)}(?!\w)", body):
        starts = [s.end() for s in _SENTENCE_START.finditer(body, 0, m.start())]
        sentence = body[starts[-1] if starts else 0 : m.start()].rstrip()
        if sentence and "\n" not in sentence:
            return f"{head}\n\n{sentence}" if head else sentence
    return None


def recall_docs(docs: list[dict], texts: dict[str, str]) -> list[dict]:
    """QA task docs turned into completions of their own document's sentence (see cloze_prompt)."""
    out = []
    for d in docs:
        prompt = cloze_prompt(texts.get(d["doc_id"], ""), d["answer"])
        if prompt is not None:
            out.append({**d, "prompt": prompt})
    return out


def document_texts(shards_dir: Path, doc_ids: set[str]) -> dict[str, str]:
    """{doc_id: text} of the given documents, read from the ingest shards."""
    table = read_documents(shards_dir, columns=["doc_id", "text"])
    return {d: t for d, t in zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist()) if d in doc_ids}


def check_mc_chance() -> None:
    """The multiple-choice metric's chance in metrics.yaml (what the report and the study draw) is 1 / MC_CHOICES."""
    m = with_role("multiple_choice")
    if m.chance is None or abs(m.chance * MC_CHOICES - 1) > 1e-9:
        raise ValueError(f"metrics.yaml: {m.name} has chance {m.chance}, but MC tasks have {MC_CHOICES} choices")


def add_choices(docs: list[dict], pool: list[dict], seed: int, tokenizer=None) -> list[dict]:
    """Multiple choice: the gold answer plus distractors of the same answer kind from other documents.

    `continuations` are the choices as `format_answer` writes them after the prompt, the exact text
    QA training puts there; the task scores them with an empty target_delimiter (see domain_mc_task).
    """
    check_mc_chance()
    rng = random.Random(seed)
    by_kind: dict[str, list[str]] = {}
    for r in pool:
        by_kind.setdefault(r["answer_kind"], [])
        if r["answer"] not in by_kind[r["answer_kind"]]:
            by_kind[r["answer_kind"]].append(r["answer"])
    out = []
    for d in docs:
        cands = [a for a in by_kind.get(d["answer_kind"], []) if a.lower() != d["answer"].lower()]
        if len(cands) < MC_CHOICES - 1:
            continue
        choices = rng.sample(cands, MC_CHOICES - 1) + [d["answer"]]
        rng.shuffle(choices)
        out.append(
            {
                **d,
                "choices": choices,
                "continuations": [format_answer(c, tokenizer) for c in choices],
                "gold": choices.index(d["answer"]),
            }
        )
    return out


@dataclass(frozen=True)
class EvalInputs:
    """The folders the tasks read (the eval stage gets them from its dvc.yaml cmd)."""

    qa: Path  # train.parquet, heldout.parquet from the qa stage
    shards: Path  # ingest shards: the held-out documents whose sentences domain_recall completes
    replay: Path  # heldout.jsonl of the replay sources' text: replay_ppl
    instruct: Path  # follow.jsonl (instruct_follow) and heldout.jsonl (instruct_drills) of instructions
    general: Path  # heldout.jsonl of general text no phase trains on: general_ppl


QA_GEN_METRICS = ("em", "span_em", "f1")  # what scoring.qa_gen_results returns for each answer
# a few sentences, a short JSON object or list fits: a format cut off by the cap would read as not followed
FOLLOW_TOKENS = 96


def _task(tasks_dir: Path, name: str, rows: list[dict], **config) -> dict:
    """Write rows to tasks_dir/<name>.jsonl; an lm-eval config reading them (data_files as tasks_dir is given)."""
    data_file = tasks_dir / f"{name}.jsonl"
    _write_jsonl(data_file, rows)
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": data_file.as_posix()}},
        "test_split": "test",
        "metadata": {"version": 1},
        **config,
    }


def _metrics(names: tuple[str, ...]) -> list[dict]:
    """Per-sample scores averaged over the task, higher is better."""
    return [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in names]


def domain_qa_tasks(
    qa_dir: Path, shards_dir: Path, tasks_dir: Path, tokenizer, params: EvalParams, seed: int
) -> dict[str, dict]:
    """Held-out factual QA (generated, multiple choice, as document cloze), seen QA, reasoning, summaries."""
    gen_kwargs = {"until": stop_sequences(tokenizer), "max_gen_toks": params.max_new_tokens, "do_sample": False}
    heldout = qa_docs(qa_dir / "heldout.parquet", tokenizer, params.limit, seed)
    seen = qa_docs(qa_dir / "train.parquet", tokenizer, params.limit or len(heldout), seed)
    recall = recall_docs(heldout, document_texts(shards_dir, {d["doc_id"] for d in heldout}))
    by_type = {
        name: qa_docs(qa_dir / "heldout.parquet", tokenizer, params.limit, seed, (t,))
        for t, name in QA_TYPE_TASKS.items()
    }
    summary_kwargs = {**gen_kwargs, "max_gen_toks": SUMMARY_TOKENS_FACTOR * params.max_new_tokens}
    em_f1, f1 = (scoring.qa_gen_results, QA_GEN_METRICS), (scoring.qa_f1_results, ("f1",))
    tasks = {}
    for name, rows, kwargs, (score, metrics) in (
        ("domain_qa_gen", heldout, gen_kwargs, em_f1),
        ("domain_qa_seen", seen, gen_kwargs, em_f1),
        # the same held-out facts as completions of their documents' sentences: stored vs extractable
        ("domain_recall", recall, gen_kwargs, (scoring.recall_results, ("em",))),
        ("domain_qa_reasoning", by_type["domain_qa_reasoning"], gen_kwargs, em_f1),
        # a sentence never matches exactly: token F1 only
        ("domain_qa_summary", by_type["domain_qa_summary"], summary_kwargs, f1),
    ):
        if not rows:  # lm-eval cannot load an empty json dataset (e.g. qa.types without summaries)
            continue
        tasks[name] = _task(
            tasks_dir,
            name,
            rows,
            output_type="generate_until",
            doc_to_text="{{prompt}}",
            doc_to_target="{{answer}}",
            generation_kwargs=kwargs,
            process_results=score,
            metric_list=_metrics(metrics),
        )
    return tasks | domain_mc_task(qa_dir, heldout, tasks_dir, tokenizer, seed)


def domain_mc_task(qa_dir: Path, heldout: list[dict], tasks_dir: Path, tokenizer, seed: int) -> dict[str, dict]:
    """The held-out factual questions as multiple choice; {} when no answer kind has enough distractors."""
    # distractors from every factual answer, also the held-out ones a `limit` leaves out
    pool = [d for split in ("train", "heldout") for d in qa_docs(qa_dir / f"{split}.parquet", tokenizer, None, seed)]
    mc = add_choices(heldout, pool, seed, tokenizer)
    if not mc:
        return {}
    # lm-eval scores (prompt, target_delimiter + choice); with an empty delimiter and the choices as
    # format_answer writes them, the scored continuation is the text QA training puts after the
    # prompt (" 1850" in the plain format, "1850" after a chat template: no space is added there).
    return {
        "domain_qa_mc": _task(
            tasks_dir,
            "domain_qa_mc",
            mc,
            output_type="multiple_choice",
            doc_to_text="{{prompt}}",
            doc_to_choice="{{continuations}}",
            doc_to_target="{{gold}}",
            target_delimiter="",
            metric_list=_metrics(("acc",)),
        )
    }


def replay_task(replay_dir: Path, tasks_dir: Path, params: EvalParams) -> dict[str, dict]:
    """Perplexity on held-out text of the replay sources (what replay keeps; falls on a model new to them)."""
    return perplexity_task("replay_ppl", read_replay(replay_dir, "heldout"), tasks_dir, params)


def general_task(general_dir: Path, tasks_dir: Path, params: EvalParams) -> dict[str, dict]:
    """Perplexity on general text that no phase trains on: forgetting of what a pretrained model knew."""
    return perplexity_task("general_ppl", read_replay(general_dir, "heldout"), tasks_dir, params)


def perplexity_task(name: str, texts: list[dict], tasks_dir: Path, params: EvalParams) -> dict[str, dict]:
    """Rolling log-likelihood of each text: word and byte perplexity, bits per byte."""
    rows = [{"text": r["text"]} for r in texts][: params.limit]
    aggregations = (
        ("word_perplexity", "weighted_perplexity"),
        ("byte_perplexity", "weighted_perplexity"),
        ("bits_per_byte", "bits_per_byte"),
    )
    return {
        name: _task(
            tasks_dir,
            name,
            rows,
            output_type="loglikelihood_rolling",
            doc_to_text="",
            doc_to_target="{{text}}",
            metric_list=[{"metric": m, "aggregation": agg, "higher_is_better": False} for m, agg in aggregations],
        )
    }


def instruct_tasks(instruct_dir: Path, tasks_dir: Path, tokenizer, params: EvalParams) -> dict[str, dict]:
    """Held-out instructions scored by their verifiable constraint: IFEval-style requests (instruct_follow)
    and the drills the scratch instruct start is tuned on (instruct_drills)."""
    tasks = {}
    if params.instruct_follow:
        tasks |= instruct_task("instruct_follow", "follow", FOLLOW_TOKENS, instruct_dir, tasks_dir, tokenizer, params)
    if params.instruct_drills:
        tokens = 2 * params.max_new_tokens
        tasks |= instruct_task("instruct_drills", "heldout", tokens, instruct_dir, tasks_dir, tokenizer, params)
    return tasks


def instruct_task(
    name: str, split: str, max_tokens: int, instruct_dir: Path, tasks_dir: Path, tokenizer, params: EvalParams
) -> dict[str, dict]:
    """One split of instruction rows, scored by whether the response meets the row's constraint."""
    rows = [
        {
            "id": r["id"],
            "prompt": format_prompt(r["instruction"], tokenizer),
            "constraint": r["constraint"],
            "reference": r["response"],
        }
        for r in read_instruct(instruct_dir, split)
    ][: params.limit]
    return {
        name: _task(
            tasks_dir,
            name,
            rows,
            output_type="generate_until",
            doc_to_text="{{prompt}}",
            doc_to_target="{{reference}}",
            generation_kwargs={
                "until": stop_sequences(tokenizer)[1:],
                "max_gen_toks": max_tokens,
                "do_sample": False,
            },
            process_results=scoring.instruct_results,
            metric_list=_metrics(("follow",)),
        )
    }


def passkey_task(tasks_dir: Path, tokenizer, params: EvalParams, seed: int) -> dict[str, dict]:
    """A 5-digit key stated once in filler text of each of eval.passkey_lengths tokens, asked for at the end."""
    rows = passkey_docs(tokenizer, list(params.passkey_lengths), params.passkey_samples, seed)
    return {
        "passkey": _task(
            tasks_dir,
            "passkey",
            rows,
            output_type="generate_until",
            doc_to_text="{{prompt}}",
            doc_to_target="{{answer}}",
            generation_kwargs={"until": stop_sequences(tokenizer), "max_gen_toks": 8, "do_sample": False},
            process_results=scoring.qa_gen_results,
            metric_list=_metrics(QA_GEN_METRICS),
        )
    }


def build_tasks(
    inputs: EvalInputs, tasks_dir: Path, tokenizer, params: EvalParams, seed: int, published_dir: Path | None = None
) -> dict[str, dict]:
    """Write task data + YAML under tasks_dir; return {task name: config dict for simple_evaluate}.

    published_dir: where tasks_dir will live once the stage's atomic rename is done; the YAML twins
    point their data_files there, so `lm_eval --include_path <published_dir>` works after the run.
    """
    tasks: dict[str, dict] = {}
    if params.domain_qa:
        tasks |= domain_qa_tasks(inputs.qa, inputs.shards, tasks_dir, tokenizer, params, seed)
    if params.replay_ppl:
        tasks |= replay_task(inputs.replay, tasks_dir, params)
    if params.general_ppl:
        tasks |= general_task(inputs.general, tasks_dir, params)
    tasks |= instruct_tasks(inputs.instruct, tasks_dir, tokenizer, params)
    if params.passkey_lengths:
        tasks |= passkey_task(tasks_dir, tokenizer, params, seed)
    _write_yaml(tasks_dir, tasks, (published_dir or tasks_dir).as_posix())
    return tasks


def _write_yaml(tasks_dir: Path, tasks: dict[str, dict], data_dir: str) -> None:
    """YAML twins of the configs: callables become `!function cptpipe_scoring.<name>`; data_files
    point into data_dir (as the stage gives it: relative to the repository root, where lm_eval is run)."""
    import yaml

    (tasks_dir / "cptpipe_scoring.py").write_text(
        '"""Shim so the YAML tasks here resolve `!function` against cptpipe."""\n'
        "from cptpipe.eval.scoring import (  # noqa: F401\n"
        "    instruct_results, qa_f1_results, qa_gen_results, recall_results,\n"
        ")\n"
    )
    for name, cfg in tasks.items():
        data_file = Path(cfg["dataset_kwargs"]["data_files"]["test"]).name
        cfg = {**cfg, "dataset_kwargs": {"data_files": {"test": f"{data_dir}/{data_file}"}}}
        text = yaml.safe_dump({k: v for k, v in cfg.items() if k != "process_results"}, sort_keys=False)
        if "process_results" in cfg:
            text += f"process_results: !function cptpipe_scoring.{cfg['process_results'].__name__}\n"
        (tasks_dir / f"{name}.yaml").write_text(text)
