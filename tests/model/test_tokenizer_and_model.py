import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from cptpipe.errors import UserError
from cptpipe.io import hash_dir
from cptpipe.model.prepare import ROUND_TRIP_TEXT
from cptpipe.model.start import PIN_FILE, model_location, pin_model
from cptpipe.model.tokenizer import check_round_trip
from tests.helpers import tiny_model, tiny_tokenizer

PARAGRAPH = (
    "When the old mill closed in 1931, the village council bought the building for 450 "
    "pounds. It became a school, then a museum; today visitors can see the water wheel, "
    "the grinding stones and a small café. Opening hours: 10:00–16:00 (closed Mondays)."
)


def test_saved_tokenizer_round_trips_english_through_autotokenizer(tmp_path):
    tiny_tokenizer().save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    ids = tok(PARAGRAPH, add_special_tokens=False)["input_ids"]
    assert len(ids) > 20
    assert tok.decode(ids) == PARAGRAPH
    assert tok.eos_token == "</s>" and tok.pad_token == "<pad>"
    check_round_trip(tok, ROUND_TRIP_TEXT)


def test_round_trip_check_catches_an_empty_encoder():
    class Broken:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": []}

        def decode(self, ids):
            return ""

    with pytest.raises(RuntimeError, match="does not round-trip"):
        check_round_trip(Broken(), PARAGRAPH)


def test_scratch_model_saves_and_loads_with_auto_classes(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    tiny_tokenizer().save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([[5, 6, 7, 8]])
    assert torch.allclose(model(ids).logits, loaded(ids).logits, atol=1e-6)
    assert (tmp_path / "model.safetensors").exists()


def test_local_model_dir_is_pinned_by_content(tmp_path):
    tiny_model().save_pretrained(tmp_path / "m")
    pin = pin_model(str(tmp_path / "m"), None)
    assert pin["source"] == "local" and pin["sha256"] == hash_dir(tmp_path / "m")
    (tmp_path / "m" / "extra.txt").write_text("changed")
    assert hash_dir(tmp_path / "m") != pin["sha256"]
    start = tmp_path / "start"
    start.mkdir()
    (start / PIN_FILE).write_text(json.dumps(pin))
    assert model_location(start) == (str(tmp_path / "m"), None)


def test_unresolvable_model_is_a_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        pin_model(str(tmp_path / "empty"), None)
    with pytest.raises(UserError, match="cannot resolve hub id"):
        pin_model("nobody-here/no-such-model", None)
