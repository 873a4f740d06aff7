"""The eval stage: one checkpoint -> lm-eval results + the stable metrics of the design."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import pyarrow.parquet as pq

from cptpipe.answers import normalize_answer
from cptpipe.errors import UserError
from cptpipe.eval.tasks import EvalInputs, build_tasks
from cptpipe.metric_table import from_lm_eval
from cptpipe.model.context import already_scaled, check_context
from cptpipe.model.start import load_model, load_tokenizer, model_location
from cptpipe.params import EvalParams, Params

log = logging.getLogger(__name__)


def metrics_from_results(results: dict) -> dict:
    """The design's nested metrics from lm-eval's `results` section (task -> {"metric,filter": v})."""
    out: dict = {}
    for m in from_lm_eval():
        if m.task in results and m.result in results[m.task]:
            out.setdefault(m.group, {})[m.key] = round(float(results[m.task][m.result]), 6)
    return out


# metrics.json key -> field of a domain_qa_gen doc: held-out EM broken down (nested {em, n}, so the
# report's DVC metrics, which keep flat numbers only, do not list one name per kind or relation)
BREAKDOWNS = {"domain_qa_by_kind": "answer_kind", "domain_qa_by_relation": "relation"}


def em_breakdown(rows: list[dict], field: str) -> dict[str, dict]:
    """{value of doc[field]: {"em": mean EM, "n": count}} from lm-eval's logged samples of a QA task."""
    groups: dict[str, list[float]] = {}
    for r in rows:
        if "em" in r:
            groups.setdefault(str(r["doc"].get(field, "?")), []).append(float(r["em"]))
    return {k: {"em": round(sum(v) / len(v), 6), "n": len(v)} for k, v in sorted(groups.items())}


def wrong_from_seen(rows: list[dict], seen_answers: set[str]) -> float | None:
    """Share of the wrong answers in lm-eval's QA samples that repeat a trained question's answer.

    High means the model answers a held-out question with what it was taught for similar trained
    questions, not with the held-out document's fact (QA pairs memorized, extraction not learned).
    """
    wrong = [
        normalize_answer(str(r["filtered_resps"][0])) for r in rows if r.get("em") == 0 and r.get("filtered_resps")
    ]
    return round(sum(w in seen_answers for w in wrong) / len(wrong), 6) if wrong else None


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return getattr(obj, "__name__", type(obj).__name__)


def lm_eval_model(checkpoint: Path, tok, ev: EvalParams):
    """lm-eval's model for a checkpoint: `eval.backend` picks the class, `eval.model_args` go to it.

    With no model_args the hf backend gets the model as cptpipe loads it (fp32 on CPU, bf16 on capable
    GPUs); with model_args HFLM loads it itself, so its loading arguments (dtype, parallelize,
    device_map, attn_implementation ...) apply.
    """
    import torch

    where, revision = model_location(checkpoint)
    pin = {"revision": revision} if revision else {}
    if ev.backend == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise UserError(
                "eval.backend: vllm is not installed here; install the extra on a GPU machine "
                '(pip install -e ".[vllm]") or set eval.backend: hf in params.yaml'
            )
        from lm_eval.models.vllm_causallms import VLLM

        return VLLM(pretrained=str(where), batch_size=ev.batch_size, **pin, **ev.model_args)
    from lm_eval.models.huggingface import HFLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    if ev.model_args:
        return HFLM(
            pretrained=str(where),
            tokenizer=tok,
            batch_size=ev.batch_size,
            **{"device": device, "dtype": dtype, **pin, **ev.model_args},
        )
    model = load_model(checkpoint, dtype=dtype).to(device)
    return HFLM(
        pretrained=model,
        tokenizer=tok,
        batch_size=ev.batch_size,
        device=device,
        max_length=getattr(model.config, "max_position_embeddings", None),
    )


def check_eval_context(checkpoint: Path, params: Params) -> None:
    """eval.passkey_lengths against the checkpoint's context (an unscaled start: x model.rope_scaling.factor,
    the context training extends it to), before any model loads."""
    from transformers import AutoConfig

    where, revision = model_location(checkpoint)
    config = AutoConfig.from_pretrained(where, revision=revision)
    rope = params.model.rope_scaling
    factor = None if rope is None or already_scaled(config) else rope.factor
    check_context(config, seq_len=None, passkey_lengths=params.eval.passkey_lengths, rope_factor=factor)


def run_tasks(lm, tasks: dict, params: Params) -> tuple[dict, dict, dict, list[dict]]:
    """lm-eval over cptpipe's tasks, then each standard task of eval.lm_eval_tasks (skipped, with the
    reason, when it cannot run offline): (results, samples, configs, skipped)."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    results, samples, configs, skipped = {}, {}, {}, []
    if tasks:
        res = simple_evaluate(
            model=lm,
            tasks=list(tasks.values()),
            task_manager=TaskManager(include_defaults=False),
            log_samples=True,
            bootstrap_iters=0,
            random_seed=params.seed,
            numpy_random_seed=params.seed,
            torch_random_seed=params.seed,
            fewshot_random_seed=params.seed,
        )
        results.update(res["results"])
        samples.update(res.get("samples", {}))
        configs.update(res.get("configs", {}))
    for name in params.eval.lm_eval_tasks:
        try:
            res = simple_evaluate(model=lm, tasks=[name], log_samples=False, bootstrap_iters=0, random_seed=params.seed)
            results.update(res["results"])
        except Exception as e:  # noqa: BLE001 - a standard task offline must not fail the stage
            reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            skipped.append({"task": name, "reason": f"{type(e).__name__}: {reason}"})
            log.warning("lm-eval task %s skipped: %s", name, reason)
    return results, samples, configs, skipped


def qa_metrics(results: dict, samples: dict, trained_qa: Path) -> dict:
    """The design's metrics, the held-out EM breakdowns and the share of wrong answers that are trained answers."""
    metrics = metrics_from_results(results)
    for key, field in BREAKDOWNS.items():
        if samples.get("domain_qa_gen"):
            metrics[key] = em_breakdown(samples["domain_qa_gen"], field)
    if samples.get("domain_qa_gen"):
        trained = pq.read_table(trained_qa, columns=["answer"]).column("answer").to_pylist()
        share = wrong_from_seen(samples["domain_qa_gen"], {normalize_answer(a) for a in trained})
        if share is not None:
            metrics.setdefault("domain_qa", {})["wrong_from_seen"] = share
    return metrics


def _repath(obj, old: str, new: str):
    """obj with `old` replaced by `new` in every string (the temp dir's name by the published one)."""
    if isinstance(obj, dict):
        return {k: _repath(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_repath(v, old, new) for v in obj]
    return obj.replace(old, new) if isinstance(obj, str) else obj


def write_outputs(out_dir: Path, results: dict, configs: dict, samples: dict, counts: dict, skipped: list) -> None:
    """results.json (lm-eval's raw results) and one samples_<task>.jsonl per task."""
    (out_dir / "results.json").write_text(
        json.dumps(
            {"results": _jsonable(results), "configs": _jsonable(configs), "n_samples": counts, "skipped": skipped},
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    for task, rows in samples.items():
        with open(out_dir / f"samples_{task}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(
                    json.dumps(
                        {
                            "doc": r.get("doc"),
                            "target": r.get("target"),
                            "resps": _jsonable(r.get("filtered_resps")),
                            **{k: r[k] for k in ("em", "f1", "acc", "follow") if k in r},
                        },
                        sort_keys=True,
                        default=str,
                    )
                    + "\n"
                )


def evaluate_checkpoint(
    checkpoint: Path, params: Params, inputs: EvalInputs, out_dir: Path, published_dir: Path | None = None
) -> dict:
    """Evaluate a checkpoint on cptpipe's tasks built from `inputs` (and any reachable standard ones);
    write results under out_dir.

    published_dir: out_dir's final name when out_dir is a temp dir renamed on success (the task YAMLs
    written for running by hand point there).
    """
    check_eval_context(checkpoint, params)
    tok = load_tokenizer(checkpoint)
    lm = lm_eval_model(checkpoint, tok, params.eval)
    tasks = build_tasks(inputs, out_dir / "tasks", tok, params.eval, params.seed, (published_dir or out_dir) / "tasks")
    results, samples, configs, skipped = run_tasks(lm, tasks, params)
    metrics = qa_metrics(results, samples, inputs.qa / "train.parquet")
    counts = {t: len(v) for t, v in samples.items()}
    metrics["n"] = counts
    if skipped:
        metrics["skipped"] = skipped
    # lm-eval's configs name the task files under out_dir: a temp dir with a random name would make
    # results.json differ on every run (the eval stage's hash with it), so they name the final place
    configs = _repath(_jsonable(configs), str(out_dir), str(published_dir or out_dir))
    write_outputs(out_dir, results, configs, samples, counts, skipped)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics
