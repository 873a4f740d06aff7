"""The train stage's library on a tiny workspace: recipes, LoRA/EWC, held-out curves, resume, YaRN."""

import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from cptpipe.errors import ParamsError
from cptpipe.params import RopeScalingParams, parse_params
from cptpipe.train.blocks import ArrayBlocks
from cptpipe.train.ewc import EWCPenalty
from cptpipe.train.loop import LoopConfig, Phase, train_phases
from cptpipe.train.run import apply_lora, checkpoint_dir, load_start, run_train
from tests.helpers import tiny_model
from tests.train.test_train import blocks
from tests.train.workspace import SEQ_LEN, make_workspace, params


def train(root, **kw):
    return run_train(
        params(root),
        root / "models/start",
        root / "data/mix",
        root / "data/tokens",
        root / "out",
        root / "live",
        ckpt_root=root / "checkpoints",
        **kw,
    )


def test_pit_trains_on_qa_before_documents_mixed_with_qa(tmp_path):
    root = make_workspace(tmp_path, recipe="pit")
    s = train(root)
    assert [p["name"] for p in s["phases"]] == ["qa", "docs_qa"]
    qa, docs = s["phases"]
    assert set(qa["sources"]) == {"qa", "replay", "instruct"}  # replay and instructions in every phase
    assert qa["sources"]["qa"] > 10 * qa["sources"]["replay"] > 0 and docs["sources"]["qa"] > 0
    assert docs["sources"]["domain"] > docs["sources"]["replay"] > 0
    assert (qa["first_step"], docs["first_step"], docs["last_step"]) == (1, qa["last_step"] + 1, s["steps"])
    assert qa["tokens"] + docs["tokens"] == s["tokens"]
    written = json.loads((root / "live/summary.json").read_text())
    assert written["phases"] == s["phases"] and written["lr_source"] == "params"
    assert s["seconds"] > 0 and not {"seconds", "tokens_per_second"} & set(written)  # run-varying: logged, not written
    curves = root / "live/plots/metrics"
    for name in ("train/loss", "train/lr", "train/tokens", "train/grad_norm", "eval/replay_loss", "eval/domain_loss"):
        assert len((curves / f"{name}.tsv").read_text().splitlines()) >= 3, name
    assert math.isfinite(s["eval"]["eval/domain_loss"])


NORM = "model.norm.weight"  # the one weight the residuals below move


def residual_runs(tmp_path, scale: float, instruct_start: bool = False):
    """A plain cpt run and the same run with train.instruct_residual `scale` over a residual of 0.25 on
    NORM; instruct_start: the start holds base + residual and says so in START.json, as a scratch
    instruct start that keeps its residual does. Returns (summary, plain weights, residual run weights)."""
    from safetensors.torch import save_file

    from cptpipe.model.residual import RESIDUAL_FILE

    plain = make_workspace(tmp_path / "plain", recipe="cpt", mix_tokens=2000)
    train(plain)
    root = make_workspace(
        tmp_path / "res",
        recipe="cpt",
        mix_tokens=2000,
        train={"instruct_residual": scale},
        model={"instruct_residual": True},
    )
    start = root / "models/start"
    if instruct_start:
        instruct = AutoModelForCausalLM.from_pretrained(start)
        with torch.no_grad():
            instruct.state_dict()[NORM].add_(0.25)  # the "tuning": base + residual
        instruct.save_pretrained(start)
        (start / "START.json").write_text(json.dumps({"kind": "instruct", "instruct_residual": True}))
    save_file({NORM: torch.full((32,), 0.25)}, str(start / RESIDUAL_FILE))
    s = train(root)
    load = lambda d: AutoModelForCausalLM.from_pretrained(d / "out").state_dict()  # noqa: E731
    return s, load(plain), load(root)


def test_instruct_residual_is_added_to_the_trained_weights(tmp_path):
    s, a, b = residual_runs(tmp_path, 0.5)
    assert s["instruct_residual"] == {"scale": 0.5, "trained": "start", "tensors": 1}
    assert torch.allclose(b[NORM], a[NORM] + 0.125)  # the same training, then 0.5 x the residual
    assert all(torch.equal(a[k], b[k]) for k in a if k != NORM)


def test_an_instruct_start_with_its_residual_trains_the_base_under_it(tmp_path):
    """A scratch instruct start stores (instruct - base): train.instruct_residual trains start - residual
    (at the base's LR preset), then adds the residual back, as on a base start with it stored beside."""
    s, a, b = residual_runs(tmp_path, 1.0, instruct_start=True)
    assert s["start_kind"] == "base" and s["instruct_residual"]["trained"] == "base under the instruct start"
    assert torch.allclose(b[NORM], a[NORM] + 0.25)  # the base's training, then the residual
    assert all(torch.equal(a[k], b[k]) for k in a if k != NORM)


def test_lora_ewc_run_saves_a_merged_checkpoint_that_differs_from_start(tmp_path):
    root = make_workspace(
        tmp_path,
        recipe="cpt",
        train={
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
            "ewc": 1.0,
            "lr": 3e-3,  # the top of the scratch range: LoRA adapters must move visibly
        },
    )
    s = train(root)
    assert s["ewc_fisher_seconds"] > 0 and s["lora"]["r"] == 4
    start = AutoModelForCausalLM.from_pretrained(root / "models/start")
    cpt = AutoModelForCausalLM.from_pretrained(root / "out")
    names = cpt.state_dict().keys()
    assert not any("lora" in n for n in names) and names == start.state_dict().keys()
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(cpt.state_dict()[q], start.state_dict()[q])
    k = "model.layers.0.self_attn.k_proj.weight"  # not a LoRA target: untouched
    assert torch.equal(cpt.state_dict()[k], start.state_dict()[k])


def test_ewc_under_lora_penalizes_the_adapter_delta():
    model = tiny_model()
    b = torch.as_tensor(blocks(64 * 8))
    pen = EWCPenalty(model, [{"input_ids": b, "labels": b}], lam=10.0)
    peft_model = apply_lora(model, RopeFreeLora())
    assert pen(peft_model).item() == 0.0  # B starts at zero: no drift
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.add_(0.05)
    value = pen(peft_model)
    assert value.item() > 0
    value.backward()
    assert any(p.grad is not None for n, p in peft_model.named_parameters() if "lora_" in n)


class RopeFreeLora:
    r, alpha, dropout, target_modules = 4, 8, 0.0, ["q_proj", "v_proj"]


class Crash(Exception):
    pass


def test_resume_in_process_is_exact(tmp_path):
    data = ArrayBlocks(blocks(64 * 40))
    phases = lambda: [Phase("a", data, 8, 3e-3), Phase("b", data, 8, 3e-3)]  # noqa: E731
    cfg = LoopConfig(
        batch_size=4, grad_accum=2, warmup=0.1, precision="fp32", log_every=1, save_every=5, ckpt_dir=tmp_path / "ck"
    )
    ref_points = []
    ref = train_phases(tiny_model(), phases(), LoopConfig(**{**vars(cfg), "ckpt_dir": None}), log=ref_points.append)

    def crash_at_12(point):
        if point["step"] == 12:
            raise Crash

    with pytest.raises(Crash):
        train_phases(tiny_model(), phases(), cfg, log=crash_at_12)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["step-00000010"]
    points = []
    res = train_phases(
        tiny_model(seed=1), phases(), cfg, log=points.append
    )  # other init: weights come from the checkpoint
    assert res.resumed_from == 10 and res.steps == 16
    assert res.final_loss == pytest.approx(ref.final_loss, rel=1e-5)
    assert [p["step"] for p in points] == list(range(1, 17))  # curves continue: replayed, then new
    assert [round(p["loss"], 4) for p in points] == [round(p["loss"], 4) for p in ref_points]
    assert res.phases == ref.phases and res.tokens == ref.tokens


def test_checkpoint_fingerprint_tracks_what_changes_training(tmp_path):
    root = make_workspace(tmp_path, recipe="cpt")
    p = params(root)
    where = lambda p: checkpoint_dir(p, root / "ck", root / "models/start", root / "data/mix", root / "data/tokens")  # noqa: E731
    base = where(p)
    p.train.log_every, p.train.save_every, p.train.eval_every = 7, 3, 9
    assert where(p) == base
    p.train.lr = 1e-3
    assert where(p) != base
    p.train.lr = params(root).train.lr
    (root / "models/start/START.json").write_text('{"kind": "base", "note": "rebuilt"}')
    assert where(p) != base


def test_yarn_extends_context_of_the_start_model(tmp_path):
    root = make_workspace(tmp_path, recipe="cpt")
    model = load_start(root / "models/start", RopeScalingParams(type="yarn", factor=2.0), 2 * SEQ_LEN)
    assert model.config.max_position_embeddings == 2 * SEQ_LEN
    assert model.config.rope_parameters["rope_type"] == "yarn"
    assert model.config.rope_parameters["original_max_position_embeddings"] == SEQ_LEN
    long = torch.as_tensor(blocks(2 * SEQ_LEN * 4))[:, : 2 * SEQ_LEN].reshape(-1, 2 * SEQ_LEN)
    assert math.isfinite(model(input_ids=long, labels=long).loss.item())
    with pytest.raises(Exception, match="rope_scaling"):
        load_start(root / "models/start", None, 2 * SEQ_LEN)


def test_params_allow_seq_len_up_to_context_times_factor():
    model = {"scratch": {"context": 128}}
    parse_params({"model": {**model, "rope_scaling": {"type": "yarn", "factor": 4}}, "tokenize": {"seq_len": 512}})
    with pytest.raises(ParamsError, match="rope_scaling.factor=4"):
        parse_params({"model": {**model, "rope_scaling": {"type": "yarn", "factor": 4}}, "tokenize": {"seq_len": 513}})
    with pytest.raises(ParamsError, match="tokenize.seq_len"):
        parse_params({"model": model, "tokenize": {"seq_len": 256}})
    with pytest.raises(ParamsError, match="must be > 1"):
        parse_params({"model": {**model, "rope_scaling": {"factor": 0.5}}, "tokenize": {"seq_len": 64}})


def test_gradient_checkpointing_gives_the_same_steps():
    data = ArrayBlocks(blocks(64 * 16))
    losses = []
    for gc in (False, True):
        pts = []
        train_phases(
            tiny_model(),
            [Phase("a", data, 4, 3e-3)],
            LoopConfig(batch_size=4, precision="fp32", log_every=1, gradient_checkpointing=gc),
            log=pts.append,
        )
        losses.append([p["loss"] for p in pts])
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
