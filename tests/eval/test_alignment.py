"""The tokens QA training puts after a prompt are exactly the tokens lm-eval scores after it.

Training side: `split_pairs(tok, [format_prompt(q)], [format_answer(a)])`, as tokenize@qa writes them.
Eval side: lm-eval's own code on our generated task configs: the requests its ConfigurableTask builds
(context, continuation), HFLM._encode_pair for multiple choice (the whole string encoded, split at the
context's token count, trailing context whitespace moved into the continuation) and HFLM.tok_encode /
tok_batch_encode for generation (add_bos_token=None: whatever the tokenizer adds by default).
"""

from __future__ import annotations

import copy
from itertools import pairwise

import pytest

from cptpipe.data.tokens import split_pairs
from cptpipe.eval.scoring import exact_match
from cptpipe.eval.tasks import build_tasks
from cptpipe.params import EvalParams
from cptpipe.prompts import format_answer, format_prompt
from tests.eval.qa_rows import eval_inputs, write_qa, write_shards
from tests.helpers import tiny_model, tiny_tokenizer

WORD_BOUNDARY = "▁"


def lm_eval_requests(tmp_path, monkeypatch, tok) -> dict[str, list[tuple]]:
    """{task: [Instance.args]} for the domain QA tasks, built by lm-eval from our task configs."""
    from lm_eval.tasks import TaskManager

    write_qa(tmp_path)
    write_shards(tmp_path)  # the eval stage reads the held-out documents (domain_recall)
    monkeypatch.chdir(tmp_path)  # as the stage runs: from the repository root
    tasks = build_tasks(
        eval_inputs(tmp_path),
        tmp_path / "tasks",
        tok,
        EvalParams(replay_ppl=False, general_ppl=False, instruct_follow=False, instruct_drills=False, max_new_tokens=8),
        seed=0,
    )
    out = {}
    for name, task in TaskManager(include_defaults=False).load(list(tasks.values()))["tasks"].items():
        task.build_all_requests(rank=0, world_size=1)
        out[name] = [(inst.doc, inst.args) for inst in task.instances]
    return out


def hflm(tok):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=tiny_model(), tokenizer=tok, batch_size=1, device="cpu", max_length=64)


def doubled_boundaries(tok, ids: list[int]) -> list[tuple[str, str]]:
    pieces = tok.convert_ids_to_tokens(ids)
    return [(a, b) for a, b in pairwise(pieces) if a == WORD_BOUNDARY and b.startswith(WORD_BOUNDARY)]


def mc_choice(tok, doc: dict, continuation: str) -> str:
    """The choice whose training answer text (format_answer) is this MC continuation; fails if none is."""
    answers = [format_answer(c, tok) for c in doc["choices"]]
    assert continuation in answers, f"MC scores {continuation!r}, training puts one of {answers} after the prompt"
    return doc["choices"][answers.index(continuation)]


def train_pair(tok, question: str, answer: str) -> tuple[list[int], list[int]]:
    p_ids, a_ids = split_pairs(tok, [format_prompt(question, tok)], [format_answer(answer, tok)])
    return p_ids[0], a_ids[0]


def test_scratch_tokenizer_trains_exactly_the_tokens_lm_eval_scores(tmp_path, monkeypatch):
    tok = tiny_tokenizer()
    lm = hflm(tok)
    requests = lm_eval_requests(tmp_path, monkeypatch, tok)
    assert {"domain_qa_gen", "domain_qa_mc", "domain_qa_seen", "domain_qa_reasoning", "domain_qa_summary"} <= set(
        requests
    )

    mc = requests["domain_qa_mc"]
    assert len(mc) == 4 * 10  # every held-out factual question, 4 choices each
    for doc, (context, continuation) in mc:
        choice = mc_choice(tok, doc, continuation)
        p_ids, a_ids = train_pair(tok, doc["question"], choice)
        ctx_enc, cont_enc = lm._encode_pair(context, continuation)
        assert ctx_enc == p_ids, doc["question"]
        assert cont_enc == a_ids, (doc["question"], choice)
        assert doubled_boundaries(tok, a_ids) == [], tok.convert_ids_to_tokens(a_ids)

    for task in ("domain_qa_gen", "domain_qa_seen", "domain_qa_reasoning", "domain_qa_summary"):
        for doc, (context, gen_kwargs) in requests[task]:
            p_ids, a_ids = train_pair(tok, doc["question"], doc["answer"])
            assert lm.tok_encode(context) == p_ids  # no BOS: the scratch tokenizer adds no special tokens
            batch_ids, _ = lm.tok_batch_encode([context])  # what generate_until feeds the model
            assert batch_ids[0].tolist() == p_ids
            assert doubled_boundaries(tok, a_ids) == []
            # generating exactly the trained answer tokens (then a stop sequence) scores as a match
            generated = tok.decode(a_ids + tok.encode("\nQuestion:", add_special_tokens=False))
            assert exact_match(generated.split(gen_kwargs["until"][0])[0], doc["answer"]) == 1.0


def test_answer_encoded_alone_would_double_the_word_boundary():
    """Why training splits the joint encoding: ' 1834' alone is '▁' '▁1'..., never seen after 'Answer:'."""
    tok = tiny_tokenizer()
    alone = tok(format_answer("1834", tok), add_special_tokens=False)["input_ids"]
    assert doubled_boundaries(tok, alone)
    assert doubled_boundaries(tok, train_pair(tok, "When was Ossenholt founded?", "1834")[1]) == []


def test_tokenizer_that_adds_bos_gets_it_only_on_the_eval_side():
    """A hub tokenizer whose post-processor adds BOS (Llama-style): lm-eval's add_bos_token=None keeps it."""
    from tokenizers.processors import TemplateProcessing

    tok = copy.deepcopy(tiny_tokenizer())
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)]
    )
    lm = hflm(tok)
    prompt, answer = format_prompt("When was Ossenholt founded?", tok), format_answer("1156", tok)
    p_ids, a_ids = split_pairs(tok, [prompt], [answer])
    ctx_enc, cont_enc = lm._encode_pair(prompt, answer)
    assert ctx_enc == [tok.bos_token_id] + p_ids[0]  # eval context starts with BOS, the trained prompt does not
    assert cont_enc == a_ids[0]  # the scored answer tokens are the trained ones all the same
    assert lm.tok_encode(prompt) == [tok.bos_token_id] + p_ids[0]


@pytest.mark.parametrize("suffix", ["Assistant:", "Assistant:\n"])
def test_chat_template_continuation_has_no_added_space(tmp_path, monkeypatch, suffix):
    """After a chat template format_answer adds no space; lm-eval's default target_delimiter " " would."""
    tok = copy.deepcopy(tiny_tokenizer())
    tok.chat_template = (
        "{% for m in messages %}User: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}" + suffix.replace("\n", "{{ '\\n' }}") + "{% endif %}"
    )
    lm = hflm(tok)
    for doc, (context, continuation) in lm_eval_requests(tmp_path, monkeypatch, tok)["domain_qa_mc"]:
        choice = mc_choice(tok, doc, continuation)
        assert context.endswith(suffix) and continuation == choice
        p_ids, a_ids = train_pair(tok, doc["question"], choice)
        ctx_enc, cont_enc = lm._encode_pair(context, continuation)
        # lm-eval moves a context's trailing whitespace into the continuation: the newline after
        # "Assistant:" is then scored too (the same tokens for every choice, so accuracy is unchanged)
        moved = p_ids[len(ctx_enc) :]
        assert ctx_enc + moved == p_ids and cont_enc == moved + a_ids
        assert (moved == []) == (suffix == "Assistant:")
