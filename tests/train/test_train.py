import math

import torch

from cptpipe.data.tokens import pack_stream
from cptpipe.train.blocks import ArrayBlocks
from cptpipe.train.ewc import EWCPenalty
from cptpipe.train.loop import LoopConfig, Phase, train_phases
from cptpipe.train.run import steps_per_phase
from cptpipe.train.schedule import lr_at
from tests.helpers import replay_texts, tiny_model, tiny_tokenizer


def test_schedule_warms_up_decays_to_floor():
    lrs = [lr_at(s, 100, lr=1e-3, warmup=0.1, schedule="cosine", min_lr_ratio=0.1) for s in range(100)]
    assert lrs[0] == 1e-4 and max(lrs) == 1e-3 and lrs.index(1e-3) == 9
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert math.isclose(lrs[-1], 1e-4, rel_tol=0.01)
    lin = [lr_at(s, 10, lr=1.0, warmup=0.0, schedule="linear", min_lr_ratio=0.0) for s in range(10)]
    assert lin[0] == 1.0 and lin[-1] == 0.0
    assert lr_at(7, 10, lr=2.0, warmup=0.0, schedule="constant", min_lr_ratio=0.0) == 2.0


def test_steps_cap_scales_phases():
    assert steps_per_phase([100, 300], 10, None) == [10, 30]
    assert steps_per_phase([100, 300], 10, 20) == [5, 15]


def blocks(n_tokens=64 * 48, seed=0):
    tok = tiny_tokenizer()
    lists = tok(replay_texts(80), add_special_tokens=False)["input_ids"]
    return pack_stream(lists, tok.eos_token_id, 64, n_tokens, seed)


def test_training_lowers_loss_and_reports_phases():
    model = tiny_model()
    data = ArrayBlocks(blocks())
    eval_batch = {k: v[:16] for k, v in {"input_ids": data.blocks, "labels": data.blocks}.items()}
    with torch.no_grad():
        before = model(**eval_batch).loss.item()
    res = train_phases(
        model,
        [Phase("a", data, 12, 3e-3), Phase("b", data, 12, 3e-3)],
        LoopConfig(batch_size=8, warmup=0.1, precision="fp32", log_every=4),
    )
    with torch.no_grad():
        after = model(**eval_batch).loss.item()
    assert after < before - 0.5
    assert [(p["name"], p["first_step"], p["last_step"]) for p in res.phases] == [("a", 1, 12), ("b", 13, 24)]
    assert res.tokens == 24 * 8 * 64


def test_ewc_penalty_zero_at_start_and_grows_with_drift():
    model = tiny_model()
    b = torch.as_tensor(blocks(64 * 8))
    pen = EWCPenalty(model, [{"input_ids": b, "labels": b}], lam=10.0)
    assert pen(model).item() == 0.0
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    small = pen(model).item()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05)
    assert 0 < small < pen(model).item()


def test_trim_padding_keeps_loss_and_drops_only_unlabelled_tail():
    from transformers import LlamaConfig, LlamaForCausalLM

    from cptpipe.train.blocks import trim_padding

    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=50,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=32,
        )
    )
    ids = torch.randint(1, 50, (2, 12))
    labels = torch.full((2, 12), -100)
    labels[0, 3:6], labels[1, 2:8] = ids[0, 3:6], ids[1, 2:8]
    batch = {
        "input_ids": ids,
        "labels": labels,
        "position_ids": torch.arange(12).repeat(2, 1),
        "attention_mask": torch.ones(2, 1, 12, 12, dtype=torch.bool).tril(),
    }
    short = trim_padding(batch)
    assert short["input_ids"].shape == (2, 8) and short["attention_mask"].shape == (2, 1, 8, 8)
    assert torch.allclose(model(**short).loss, model(**batch).loss, atol=1e-6)
    full = {**batch, "labels": ids}
    assert trim_padding(full)["input_ids"].shape == (2, 12)
