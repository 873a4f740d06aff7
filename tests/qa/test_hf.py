"""The hf generator end to end with a tiny real Llama saved to disk (quality aside: it must not crash)."""

import pyarrow as pa
import pytest

from cptpipe.params import QAParams
from cptpipe.qa import hf, llm
from cptpipe.qa.generate import build_qa
from tests.helpers import tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-qa-model")
    tiny_model(context=512).save_pretrained(d)
    tiny_tokenizer().save_pretrained(d)
    return d


def test_hf_generator_end_to_end(model_dir, docs_table):
    params = QAParams(generator="hf", model=str(model_dir), per_doc=4, batch_size=4, max_new_tokens=24, paraphrases=1)
    rows, report = build_qa(docs_table, params, seed=0)
    gen = report["generation"]
    assert gen["device"] in ("cpu", "cuda") and gen["model"] == str(model_dir)
    assert gen["requests"] == docs_table.num_rows * 3  # one request per document and type
    # An untrained model writes noise: every reply is either parsed or counted, nothing crashes.
    dropped = sum(r.get("parse_error", 0) for r in report["dropped_by_type"].values())
    assert dropped + len(rows) >= 1 and report["docs"] == docs_table.num_rows
    assert all(r["generator"] == "hf" and len(r["prompt_hash"]) == 12 for r in rows)


def test_prompt_fits_context_and_chat_template_is_used(model_dir):
    model, tok, device = hf.load(str(model_dir))
    text = "Zanvel Works was founded in 1901 by Orrin Dask. " * 200
    build = lambda d: hf.chat_text(llm.render("factual", 4, 0, "Zanvel Works", d), tok)  # noqa: E731
    prompt = hf.fit_document(build, text, tok, budget=400)
    assert len(tok(prompt, add_special_tokens=False).input_ids) <= 400 + 8  # re-tokenizing may shift a few
    assert "Zanvel Works was founded in 1901" in prompt and len(prompt) < len(text)
    assert prompt.endswith(hf.PLAIN_SUFFIX)  # no chat template: the plain JSON cue
    tok.chat_template = "{% for m in messages %}<|user|>{{ m['content'] }}{% endfor %}<|assistant|>"
    assert hf.chat_text("hi", tok) == "<|user|>hi<|assistant|>"
    # Batched generation (left padding) returns one completion per prompt.
    outs = hf.generate(model, tok, device, ["short", "a much longer prompt than the first one"], 5, 100)
    assert len(outs) == 2


@pytest.mark.gpu
def test_hf_generator_bf16_on_gpu(model_dir):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    model, _, device = hf.load(str(model_dir))
    assert device == "cuda" and next(model.parameters()).dtype == torch.bfloat16
    docs = pa.Table.from_pylist([{"doc_id": "d", "title": "T", "text": "T is a town. " * 20, "split": "train"}])
    rows, report = build_qa(docs, QAParams(generator="hf", model=str(model_dir), per_doc=2, max_new_tokens=16), 0)
    assert report["generation"]["device"] == "cuda"
