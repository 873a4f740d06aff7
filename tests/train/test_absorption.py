"""The absorption probe: which questions it asks, greedy answers under left padding, exact match, the curves."""

import numpy as np
import torch

from cptpipe.answers import exact_match, normalize_answer
from cptpipe.data.tokens import TokenSource, encode_pairs, split_pairs, write_token_shard
from cptpipe.train.absorption import AbsorptionProbes, QAProbe, greedy, load_probe, probe_em, probe_rows
from cptpipe.train.loop import LoopConfig, Phase, train_phases
from tests.helpers import tiny_model, tiny_tokenizer
from tests.train.test_train_run import train
from tests.train.workspace import QA_KINDS, make_workspace


def rows(n: int = 40) -> dict[str, np.ndarray]:
    return {
        "split": np.array(["heldout" if i % 4 == 0 else "train" for i in range(n)], dtype=object),
        "kind": np.array([("factual", "reasoning", "summarization")[i % 3] for i in range(n)], dtype=object),
    }


def test_probe_rows_are_factual_rows_of_the_split_seeded_and_nested():
    r = rows()
    seen = probe_rows(r, "train", 8, seed=0)
    assert len(seen) == 8 and list(seen) == sorted(seen)
    assert all(r["split"][i] == "train" and r["kind"][i] == "factual" for i in seen)
    assert list(seen) == list(probe_rows(r, "train", 8, seed=0))
    assert list(seen) != list(probe_rows(r, "train", 8, seed=1))
    assert set(seen) <= set(probe_rows(r, "train", 10, seed=0))  # a larger probe keeps the smaller one's rows
    every = [i for i in range(40) if i % 4 == 0 and i % 3 == 0]
    assert list(probe_rows(r, "heldout", 100, seed=0)) == every
    assert len(probe_rows(r, "train", 0, seed=0)) == 0


def test_load_probe_splits_rows_into_prompt_and_answer_ids(tmp_path):
    tok = tiny_tokenizer()
    qs = [f"Question: Where does person {i} live?\nAnswer:" for i in range(12)]
    ans = [f" in town {i}" for i in range(12)]
    meta = [{"split": "heldout" if i % 2 else "train", "kind": QA_KINDS[i % 3]} for i in range(12)]
    write_token_shard(tmp_path, "qa", encode_pairs(tok, qs, ans), meta, len(tok))
    probe = load_probe(TokenSource(tmp_path), "train", 3, seed=0)
    p_ids, a_ids = split_pairs(tok, qs, ans)
    picked = [i for i in range(12) if i % 2 == 0 and QA_KINDS[i % 3] == "factual"]
    assert len(probe.prompts) == 3 and probe.eos == tok.eos_token_id
    for prompt, answer in zip(probe.prompts, probe.answers):
        i = p_ids.index(prompt)
        assert i in picked and answer == a_ids[i]
    assert load_probe(TokenSource(tmp_path), "nonesuch", 3, seed=0) is None


def test_normalized_exact_match():
    assert normalize_answer("  The Town, of  Brerovo! ") == "town of brerovo"
    assert exact_match("an Apple.", "apple") == 1.0 and exact_match("apples", "apple") == 0.0


class ScriptedLM(torch.nn.Module):
    """Answers each known prompt with a fixed continuation; no KV cache, so greedy re-runs the sequence."""

    def __init__(self, script: dict[tuple, list[int]], eos: int, vocab: int = 50):
        super().__init__()
        self.script, self.eos, self.vocab = script, eos, vocab
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask, position_ids, past_key_values=None, use_cache=None):
        logits = torch.zeros(*input_ids.shape, self.vocab)
        for r in range(len(input_ids)):
            ids = input_ids[r][attention_mask[r].bool()].tolist()  # left padding dropped
            prompt = next(p for p in self.script if tuple(ids[: len(p)]) == p)
            said = ids[len(prompt) :]
            cont = self.script[prompt] + [self.eos] * 10
            logits[r, -1, cont[len(said)]] = 1.0
        return type("Out", (), {"logits": logits, "past_key_values": None})()


def test_probe_em_scores_greedy_answers_under_left_padding():
    words = {1: "Paris", 2: "the", 3: "paris.", 4: "Rome", 5: "Oslo", 6: "again"}
    decode = lambda ids: " ".join(words[i] for i in ids)  # noqa: E731
    eos = 9
    probe = QAProbe(prompts=[[11, 12], [13, 14, 15, 16], [17]], answers=[[1], [4], [5]], eos=eos)
    # row 0: "the paris." == "Paris" after normalization; row 1: wrong; row 2: right, then junk after EOS
    model = ScriptedLM({(11, 12): [2, 3], (13, 14, 15, 16): [5], (17,): [5, eos, 6]}, eos)
    assert greedy(model, probe.prompts, 4, pad_id=0, batch_size=2) == [
        [2, 3, eos, eos],
        [5, eos, eos, eos],
        [5, eos, 6, eos],
    ]
    assert probe_em(model, probe, decode, batch_size=2, pad_id=0) == 2 / 3


def test_batched_greedy_with_cache_equals_one_prompt_at_a_time():
    model = tiny_model().eval()
    tok = tiny_tokenizer()
    prompts = [
        tok(t, add_special_tokens=False)["input_ids"]
        for t in ["Question: Who wrote the letter?\nAnswer:", "A", "Question: Where?\nAnswer:"]
    ]
    batched = greedy(model, prompts, 6, pad_id=tok.pad_token_id, batch_size=3)
    for prompt, got in zip(prompts, batched):
        ids = torch.tensor([prompt])
        for _ in range(6):  # no padding, no cache: the plain reference
            ids = torch.cat([ids, model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
        assert got == ids[0, len(prompt) :].tolist()


def test_a_model_trained_on_two_pairs_answers_them(tmp_path):
    tok = tiny_tokenizer()
    qs, ans = ["Question: Where does Ama live?\nAnswer:", "Question: What is Ama's job?\nAnswer:"], [" Oslo", " baker"]
    (tmp_path / "qa").mkdir()
    write_token_shard(
        tmp_path / "qa", "qa", encode_pairs(tok, qs, ans), [{"split": "train", "kind": "factual"}] * 2, len(tok)
    )
    rows = [(torch.tensor(ids), torch.tensor(mask)) for ids, mask in encode_pairs(tok, qs, ans)]
    width = max(len(ids) for ids, _ in rows)
    blocks = [
        {
            "input_ids": torch.nn.functional.pad(ids, (0, width - len(ids)), value=tok.pad_token_id),
            "labels": torch.nn.functional.pad(torch.where(mask.bool(), ids, -100), (0, width - len(ids)), value=-100),
        }
        for ids, mask in rows
    ]
    probes = AbsorptionProbes(tmp_path, tok, n=4, seed=0, batch_size=8)
    assert probes.describe()["questions"] == {"seen_em": 2}  # no held-out factual rows: no held-out curve
    cfg = LoopConfig(batch_size=2, eval_every=40, precision="fp32", log_every=10, warmup=0.0, schedule="constant")
    res = train_phases(tiny_model(), [Phase("qa", blocks, 80, 3e-3)], cfg, probes=probes.callables())
    assert res.eval["eval/seen_em"] == 1.0


def test_train_stage_logs_the_absorption_curves(tmp_path):
    root = make_workspace(tmp_path, recipe="pit", train={"absorption_questions": 5})
    s = train(root)
    curves = root / "live/plots/metrics/eval"
    for name in ("seen_em", "heldout_em"):
        lines = (curves / f"{name}.tsv").read_text().splitlines()
        assert lines[0].split("\t") == ["step", name] and len(lines) >= 3, name
        assert 0.0 <= s["eval"][f"eval/{name}"] <= 1.0
    assert s["absorption"]["questions"] == {"seen_em": 5, "heldout_em": 5}
    off = make_workspace(tmp_path / "off", recipe="cpt", mix_tokens=2000, train={"absorption_questions": 0})
    assert "eval/seen_em" not in train(off)["eval"] and not (off / "live/plots/metrics/eval/seen_em.tsv").exists()
