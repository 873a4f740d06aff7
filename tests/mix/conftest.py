"""Shared fixture: four tiny token shards (domain, replay, qa, instruct) with held-out rows."""

import pytest

from cptpipe.data.tokens import encode_documents, encode_pairs, write_token_shard
from tests.helpers import replay_texts, tiny_tokenizer


@pytest.fixture(scope="module")
def token_dir(tmp_path_factory):
    tok = tiny_tokenizer()
    root = tmp_path_factory.mktemp("tokens")
    texts = replay_texts(60)
    docs = [{"split": "heldout" if i % 5 == 0 else "train", "doc_id": f"d{i}"} for i in range(60)]
    for name in ("domain", "replay"):
        (root / name).mkdir()
        write_token_shard(root / name, name, encode_documents(tok, texts), docs, len(tok))
    qs = [f"What is item {i}?" for i in range(40)]
    ans = [f" item {i} is a thing" for i in range(40)]
    for name in ("qa", "instruct"):
        (root / name).mkdir()
        meta = [{"split": "heldout" if i % 4 == 0 else "train", "doc_id": f"q{i}"} for i in range(40)]
        write_token_shard(
            root / name, name, encode_pairs(tok, [f"Question: {q}\nAnswer:" for q in qs], ans), meta, len(tok)
        )
    return root
