"""The scratch start's pretraining (model/pretrain.py): rows, per-batch padding, Trainer phases."""

import math

import torch
from transformers import DataCollatorForSeq2Seq

from cptpipe.data.tokens import encode_pairs
from cptpipe.model.pretrain import PretrainPhase, as_dataset, block_rows, pretrain
from cptpipe.model.scratch import build_scratch_model
from cptpipe.params import ScratchParams
from cptpipe.prompts import format_answer, format_prompt
from tests.helpers import replay_texts, tiny_tokenizer

QUESTIONS = [
    ("What is the capital of Norvia?", "Brerovo"),
    ("Repeat exactly: a quiet red fox", "a quiet red fox"),
    ("Who wrote the long ledger of the harbor in the year of the flood?", "Anna"),
]


def test_pair_rows_carry_loss_on_answer_and_closing_token_and_pad_to_the_batch_longest_row():
    tok = tiny_tokenizer()
    enc = encode_pairs(tok, [format_prompt(q) for q, _ in QUESTIONS], [format_answer(a) for _, a in QUESTIONS])
    data = as_dataset(enc, max_len=256)
    batch = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)([data[i] for i in range(len(data))])
    width = max(len(ids) for ids, _ in enc)
    assert batch["input_ids"].shape == (len(enc), width) and width < 256  # the longest row, not the context
    for (ids, mask), row_ids, labels, att in zip(
        enc, batch["input_ids"].tolist(), batch["labels"].tolist(), batch["attention_mask"].tolist()
    ):
        n = len(ids)
        assert row_ids[:n] == ids and row_ids[n:] == [tok.pad_token_id] * (width - n) and sum(att) == n
        assert labels == [t if m else -100 for t, m in zip(ids, mask)] + [-100] * (width - n)
        assert labels[n - 1] == tok.eos_token_id and labels[0] == -100  # answer + EOS carry loss, the prompt none
    short = as_dataset(enc, max_len=5)
    assert all(len(short[i]["input_ids"]) == 5 for i in range(len(short)))


def test_pretrain_runs_each_phase_once_over_its_rows_and_lowers_the_loss():
    tok = tiny_tokenizer()
    sc = ScratchParams(vocab_size=len(tok), hidden_size=32, layers=2, heads=2, context=64)
    model = build_scratch_model(sc, tok, seed=0)
    ids = tok(replay_texts(40), add_special_tokens=False)["input_ids"]
    flat = [t for row in ids for t in row + [tok.eos_token_id]]
    blocks = torch.tensor(flat[: (len(flat) // 64) * 64]).reshape(-1, 64).numpy()
    rows = block_rows(blocks)
    batch = tok(replay_texts(40)[:4], return_tensors="pt", padding=True, truncation=True, max_length=64)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        before = model(**batch, labels=labels).loss.item()
    done = pretrain(
        model,
        tok,
        [PretrainPhase("pretrain", rows, 3e-3, batch_size=8), PretrainPhase("again", rows[:5], 1e-3, batch_size=2)],
        max_len=64,
        seed=0,
    )
    with torch.no_grad():
        after = model(**batch, labels=labels).loss.item()
    assert [d["name"] for d in done] == ["pretrain", "again"]
    assert done[0]["steps"] == math.ceil(len(rows) / 8) and done[1]["steps"] == 3  # 5 rows at its own batch of 2
    assert done[0]["tokens"] == blocks.size and done[1]["rows"] == 5
    assert after < before - 0.5 and not model.training
