"""Small QA files in the shape the qa stage writes (rows copied from a real run of its rule miner)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cptpipe.eval.tasks import EvalInputs
from cptpipe.qa.generate import QA_SCHEMA

# (type, question, answer, answer_kind, template)
HELDOUT = [
    ("factual", "In which year was Veyondo Dremholt born?", "1834", "year", "factual/born_year/0"),
    ("factual", "What is the birth year of Veyian Olmbrook?", "1846", "year", "factual/born_year/2"),
    ("factual", "When was Lumska Optics founded?", "1872", "year", "factual/when_passive/1"),
    ("factual", "When was Ossenholt founded?", "1156", "year", "factual/when_passive/1"),
    ("factual", "What is the birthplace of Ulric Dremsby?", "Quillmarsh", "place", "factual/born_place/2"),
    ("factual", "In which place was Quenondo Quellthwaite born?", "Ossenmarsh", "place", "factual/born_place/1"),
    ("factual", "How many people work for Sarmora Company?", "6655", "number", "factual/n_people/0"),
    ("factual", "What is the length of Olk Vole in cm?", "16", "number", "factual/measure/0"),
    ("factual", "Which organization did Tamessa Pirrford join?", "Dovrovo Optics", "org", "factual/joined/0"),
    ("factual", "What does Umbrin Newt feed on?", "seeds", "text", "factual/feeds/0"),
    (
        "reasoning",
        "Which came later, the birth of Ulric Dremsby or the founding of Praquist Glassworks?",
        "the birth of Ulric Dremsby",
        "event",
        "reasoning/later/0",
    ),
    (
        "reasoning",
        "How many years passed between the birth of Ulric Dremsby and the founding of Praquist Glassworks?",
        "84",
        "number",
        "reasoning/gap/1",
    ),
    (
        "summarization",
        "Summarize the article about Munvel Instruments in one sentence.",
        "Munvel Instruments is a maker of copper kettles founded in 1980 and headquartered in Ulvermouth.",
        "text",
        "summarization/lead/0",
    ),
]
TRAIN = [
    ("factual", "In which year was Garette Olmford born?", "1799", "year", "factual/born_year/0"),
    ("factual", "When was Tolvengate founded?", "1452", "year", "factual/when_passive/1"),
    ("factual", "What is the birthplace of Halric Pirrmere?", "Iskenfell", "place", "factual/born_place/2"),
    ("factual", "Where was Veyane Briskwick born?", "Tolvengate", "place", "factual/born_place/0"),
    ("factual", "In which place was Orla Fennick born?", "Kelverin", "place", "factual/born_place/1"),
    ("factual", "How many people work for Praquist Glassworks?", "412", "number", "factual/n_people/0"),
    ("factual", "What is the population of Giskbrae?", "37080", "number", "factual/population/0"),
    ("factual", "Which organization did Orla Fennick join?", "Lumska Optics", "org", "factual/joined/0"),
    ("factual", "Which company does Halric Pirrmere work for?", "Sarmora Company", "org", "factual/works_for/0"),
    ("factual", "Which organization did Veyane Briskwick join?", "Munvel Instruments", "org", "factual/joined/0"),
    ("factual", "What does Hask Moth feed on?", "nectar", "text", "factual/feeds/0"),
    ("factual", "What does Olk Vole feed on?", "roots", "text", "factual/feeds/0"),
    ("factual", "What does Tessary Trout feed on?", "insects", "text", "factual/feeds/0"),
    (
        "reasoning",
        "Which happened first: the birth of Garette Olmford or the founding of Tolvengate?",
        "the founding of Tolvengate",
        "event",
        "reasoning/first/0",
    ),
    (
        "summarization",
        "Summarize the article about Giskbrae in one sentence.",
        "Giskbrae is a town in Tallidun, on the Tessary River.",
        "text",
        "summarization/lead/0",
    ),
]


def qa_rows(split: str) -> list[dict]:
    rows = HELDOUT if split == "heldout" else TRAIN
    return [
        {
            "qa_id": f"{split}{i:02d}",
            "doc_id": f"d{split}{i}",
            "split": split,
            "title": q.split()[-1],
            "type": t,
            "question": q,
            "answer": a,
            "answer_kind": k,
            "template": tpl,
            "generator": "rules",
            "prompt_hash": "h",
            "paraphrase_of": None,
        }
        for i, (t, q, a, k, tpl) in enumerate(rows)
    ]


def write_qa(root: Path) -> None:
    (root / "data/qa").mkdir(parents=True, exist_ok=True)
    for split in ("train", "heldout"):
        pq.write_table(pa.Table.from_pylist(qa_rows(split), schema=QA_SCHEMA), root / f"data/qa/{split}.parquet")


# Documents of the first held-out rows (doc_id "dheldout<i>"), stating each answer inside a sentence
DOCS = {
    "dheldout0": "# Veyondo Dremholt\n\nVeyondo Dremholt was a clockmaker. He was born in 1834 in Quillmarsh.",
    "dheldout1": "# Veyian Olmbrook\n\nVeyian Olmbrook, a printer, came into the world in 1846.",
    "dheldout4": "# Ulric Dremsby\n\nQuillmarsh was his birthplace.",  # answer opens the sentence: no cloze
}


def write_shards(root: Path) -> None:
    (root / "data/shards").mkdir(parents=True, exist_ok=True)
    rows = [{"doc_id": k, "title": v.split("\n")[0][2:], "text": v} for k, v in DOCS.items()]
    pq.write_table(pa.Table.from_pylist(rows), root / "data/shards/shard-00000.parquet")


def eval_inputs(root: Path) -> EvalInputs:
    """The eval stage's inputs in root laid out as dvc.yaml passes them (write_qa, write_shards, replay, instruct)."""
    return EvalInputs(
        qa=root / "data/qa",
        shards=root / "data/shards",
        replay=root / "data/replay",
        instruct=root / "data/instruct",
        general=root / "data/general",
    )
