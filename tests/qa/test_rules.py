"""Tests for the rule-based QA miner: shipped fictional corpus, unfamiliar real text, edge cases."""

import json
import re
from pathlib import Path

from cptpipe.qa.pairs import QA_TYPES, QAPair
from cptpipe.qa.rules import generate_pairs
from cptpipe.qa.validate import MAX_FACTUAL_WORDS

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "data" / "raw"
FACTS = ROOT / "data" / "fictional" / "facts.jsonl"

# Unfamiliar prose, nothing like the generator's templates: real facts about real software.
REAL_DOCS = {
    "Python": """# Python

Python is a high-level, general-purpose programming language. It was created by Guido van Rossum,
who began working on it in the late 1980s at Centrum Wiskunde & Informatica in the Netherlands.
Python was first released in 1991. The language is named after the British comedy group Monty Python.

Python 2.0 was released on 16 October 2000, with many new features such as list comprehensions and a
cycle-detecting garbage collector. Python 3.0 was released on 3 December 2008. It was a major revision
that is not completely backward-compatible with earlier versions.

The reference implementation, CPython, is written in C. The Python Software Foundation was founded in
2001 and manages the development of the language.
""",
    "Git": """# Git

Git is a distributed version control system. It was created by Linus Torvalds in 2005 for the
development of the Linux kernel. Git was originally designed as a low-level engine on top of which
others could write front ends.

Since 2005 the project has been maintained by Junio Hamano. Git is written mainly in C. The name is
explained in the project's documentation as a self-deprecating joke.

GitHub is headquartered in San Francisco. It was founded in 2008 and has over 100 million developers.
""",
    "SQLite manual": """# SQLite manual

SQLite is a library that implements a small, fast, self-contained SQL database engine. SQLite was
designed by D. Richard Hipp and was first released in 2000. The library is written in C and is
embedded in every Android device.

A complete database is stored in a single cross-platform disk file. The maximum database size is
281 terabytes. SQLite is located in the public domain, so anyone may use the code for any purpose.
""",
}
ALL = tuple(QA_TYPES)


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", s.lower())).strip()


def _corpus() -> list[tuple[str, str, str]]:
    docs = []
    for path in sorted((RAW / "encyclopedia").glob("*/*.md")):
        text = path.read_text(encoding="utf-8")
        title = text.splitlines()[0].removeprefix("# ").strip()
        docs.append((path.relative_to(RAW).as_posix(), title, text))
    return docs


def test_shipped_corpus_factual_precision_and_mix():
    facts: dict[str, list[str]] = {}
    for line in FACTS.read_text(encoding="utf-8").splitlines():
        f = json.loads(line)
        facts.setdefault(f["entity"], []).append(_norm(f["value"]))
    docs = _corpus()
    assert len(docs) >= 200
    n_pairs, n_fact, n_ok, types, wrong = 0, 0, 0, set(), []
    for rel, title, text in docs:
        pairs = generate_pairs(title, text, per_doc=8, types=ALL, seed=0)
        assert len(pairs) <= 8
        n_pairs += len(pairs)
        types |= {p.type for p in pairs}
        for p in pairs:
            if p.type != "factual":
                continue
            # Honest check: the answer must be a true value of the entity the question names
            # (a question about a founder inside a company article is judged against the founder),
            # falling back to the article's own entity only when the question names no known entity.
            named = [e for e in facts if re.search(rf"\b{re.escape(e)}\b", p.question)] or [title]
            n_fact += 1
            if any(_norm(p.answer) in facts.get(e, []) for e in named):
                n_ok += 1
            else:
                wrong.append((rel, p.question, p.answer))
    precision = n_ok / n_fact
    print(f"factual precision {precision:.3f} ({n_ok}/{n_fact}); pairs/doc {n_pairs / len(docs):.2f}")
    assert precision >= 0.95, wrong[:20]
    assert n_pairs / len(docs) >= 3
    assert types == set(QA_TYPES)


def test_unfamiliar_real_text_is_grounded():
    total = 0
    for title, text in REAL_DOCS.items():
        pairs = generate_pairs(title, text, per_doc=8, types=ALL, seed=0)
        total += len(pairs)
        flat = _norm(text)
        for p in pairs:
            assert p.type in QA_TYPES and p.question.endswith(("?", "."))
            if p.type == "factual":
                assert _norm(p.answer) in flat, (title, p)
                assert len(p.answer.split()) <= MAX_FACTUAL_WORDS
    assert total / len(REAL_DOCS) >= 2


def test_deterministic_and_seeded():
    _, title, text = _corpus()[0]
    a = generate_pairs(title, text, per_doc=8, types=ALL, seed=3)
    assert a == generate_pairs(title, text, per_doc=8, types=ALL, seed=3)
    assert all(isinstance(p, QAPair) for p in a)
    assert len({p.question.lower() for p in a}) == len(a)


def test_types_and_limits_respected():
    _, title, text = _corpus()[0]
    only = generate_pairs(title, text, per_doc=3, types=("factual",), seed=0)
    assert 0 < len(only) <= 3 and {p.type for p in only} == {"factual"}
    assert generate_pairs(title, text, per_doc=0, types=ALL, seed=0) == []


def test_degenerate_inputs_do_not_crash():
    assert generate_pairs("Empty", "", per_doc=8, types=ALL, seed=0) == []
    assert generate_pairs("", "# Only a heading\n", per_doc=8, types=ALL, seed=0) == []
    assert generate_pairs("X", "no sentence here", per_doc=8, types=ALL, seed=0) == []
    huge = ("Zanvel Works was founded in 1901 by Orrin Dask. " * 20 + "\n\n") * 2000
    assert len(generate_pairs("Zanvel Works", huge, per_doc=8, types=ALL, seed=0)) <= 8


def _sqlite_docs() -> list[tuple[str, str]]:
    """Real technical prose the rules never saw: SQLite documentation pages (data/replay)."""
    from cptpipe.data.documents import title_of

    docs = []
    with open(ROOT / "data/replay/train.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["id"].startswith("sqlite/"):
                docs.append((title_of(r["text"], r["id"].split("/")[1]), r["text"]))
    return docs


def test_real_technical_corpus_yields_grounded_pairs():
    from cptpipe.qa.validate import check

    docs = _sqlite_docs()
    assert len(docs) >= 100
    kept = 0
    for title, text in docs:
        seen: set[str] = set()
        for p in generate_pairs(title, text, per_doc=8, types=ALL, seed=0):
            kept += check(p, text, seen) == ""  # grounded: the shared validator keeps it
    print(f"sqlite docs {len(docs)}: grounded pairs/doc {kept / len(docs):.2f}")
    assert kept / len(docs) >= 2


def test_paraphrases_keep_the_answer_and_differ():
    from cptpipe.qa.rules import paraphrases

    _, title, text = _corpus()[0]
    pairs = [p for p in generate_pairs(title, text, per_doc=8, types=ALL, seed=0) if p.type == "factual"]
    asked = {p.question.lower() for p in pairs}
    for p in pairs:
        alts = paraphrases(p, title, 3, asked)
        assert len(alts) == 3 and p.question not in alts and len(set(alts)) == 3
        assert not {a.lower() for a in alts} & asked
