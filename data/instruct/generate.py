"""Generate instruction rows whose correct responses are computed by code (and so checkable).

Writes data/instruct/train.jsonl and heldout.jsonl (drills), and follow.jsonl (held-out IFEval-style
requests with a format constraint), one row per line:
{"id": "<split>/<task>/<n>", "instruction": str, "response": str, "constraint": {...}}.
`constraint` is what cptpipe.eval.instruct_check.check needs to verify any response.

Held-out rows never share inputs with train rows: every content word list below is split
by a hash of the word (see `vocab`), and sentences and word lists are built from one
side only. Stdlib only; output depends on nothing but --seed and the row counts.

    python data/instruct/generate.py [--out DIR] [--seed 0] [--n-train 3000] [--n-heldout 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
HELDOUT_PERCENT = 20  # of each word list; held-out sentences use only these words

# Content words. None of them may occur in an instruction template (tests check this).
WORDS: dict[str, list[str]] = {
    "name": """Anna Ben Carla David Elena Farid Grace Hugo Irene Jonas Kira Leo Maya Nora Omar
        Paula Quinn Rosa Sam Tara Uma Victor Wendy Yusuf Zoe Mila Theo Iris Felix Lena Marco
        Nina Oscar Priya Ravi Sofia Tomas Vera Wes Hana""".split(),
    "animal": """cat dog fox horse rabbit owl goat sheep duck tiger lion bear wolf deer mouse
        frog eagle whale dolphin turtle camel zebra panda koala otter beaver parrot swan goose
        donkey pony lamb crab seal moose hawk robin lizard snail badger""".split(),
    "object": """lamp chair kettle clock basket ladder blanket mirror bottle candle pillow bucket
        hammer umbrella wallet jacket kite drum violin guitar bicycle wagon boat helmet scarf
        teapot compass lantern notebook pencil envelope spoon bowl anchor barrel cushion shovel
        rope tent hat""".split(),
    "food": """apple pear plum cherry grape lemon mango peach melon banana apricot bread cheese
        soup rice honey carrot potato onion tomato cabbage pumpkin olive walnut almond cookie
        pie salad pepper noodle""".split(),
    "color": """red blue green yellow purple brown gray pink black white silver golden violet
        crimson amber teal""".split(),
    "adj": """small large quiet happy old young bright dark tired clever gentle brave lazy busy
        curious shy proud calm noisy hungry sleepy friendly tiny heavy soft warm cold shiny fancy
        humble lucky careful patient polite cheerful grumpy clumsy fearless eager sturdy""".split(),
    "verb": """found painted carried cleaned watched fixed moved dropped lifted washed bought sold
        borrowed hid opened followed chased fed pushed pulled noticed admired dragged packed
        wrapped shared tossed caught guarded sketched""".split(),
    "intransitive": """slept waited danced sang jumped rested wandered played swam sat dozed
        napped hummed paused lingered""".split(),
    "place": """garden kitchen market harbor library station forest river bridge village museum
        bakery meadow beach castle school office hallway cellar attic barn park valley island
        plaza tower stable orchard porch lake""".split(),
    "adverb": """slowly quickly quietly happily carefully calmly gladly softly boldly gently
        proudly eagerly lazily neatly loudly""".split(),
    # ends_with / starts_with phrases are inputs too, so they are split like the words
    "closing": [
        "That is all.",
        "Thank you for reading.",
        "Have a nice day.",
        "The end.",
        "I hope this helps.",
        "Nothing more to add.",
        "See you soon.",
        "Over and out.",
        "Hope that is clear.",
        "Enjoy the rest of your day.",
    ],
    "opening": [
        "My answer is",
        "Here it is:",
        "Sure:",
        "Answer:",
        "Certainly:",
        "Okay,",
        "The result is",
        "Well,",
        "Result:",
        "In short,",
    ],
}
KIND_OF = {"animal": "an animal", "object": "an object", "food": "a food", "place": "a place", "color": "a color"}
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth"]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def heldout_words(cat: str) -> set[str]:
    """The HELDOUT_PERCENT of a word list (at least 2) with the smallest hashes: stable, balanced."""
    ws = sorted(WORDS[cat], key=lambda w: hashlib.sha256(w.encode()).hexdigest())
    return set(ws[: max(2, round(len(ws) * HELDOUT_PERCENT / 100))])


def vocab(split: str) -> dict[str, list[str]]:
    """The word lists one split may draw inputs from; train and heldout never share a word."""
    want = split == "heldout"
    return {cat: [w for w in ws if (w in heldout_words(cat)) == want] for cat, ws in WORDS.items()}


# ---------------------------------------------------------------- sentences
def sentence(rng: random.Random, v: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
    """A short sentence and the slot values it used (by category)."""
    s = {
        cat: rng.choice(v[cat])
        for cat in ("name", "animal", "object", "food", "color", "adj", "verb", "intransitive", "place", "adverb")
    }
    templates = [
        "{name} {verb} the {adj} {object} in the {place}.",
        "The {adj} {animal} {intransitive} {adverb} near the {place}.",
        "{name} {verb} a {color} {object} at the {place}.",
        "Every morning {name} eats a {food} in the {place}.",
        "Our {adj} {animal} likes the {color} {object}.",
        "The {animal} {verb} the {food} and {intransitive} by the {place}.",
        "{name} {adverb} {verb} the {adj} {animal}.",
        "A {color} {animal} {intransitive} under the {object}.",
    ]
    tpl = rng.choice(templates)
    used = {cat: val for cat, val in s.items() if "{" + cat + "}" in tpl}
    return tpl.format(**s), used


def plain_words(v: dict[str, list[str]]) -> list[str]:
    return sorted(v["animal"] + v["object"] + v["food"] + v["color"] + v["place"])


def words_of(text: str) -> list[str]:
    return text.rstrip(".").split()


# ---------------------------------------------------------------- tasks
# Each task returns (instruction, response, constraint) or None to skip an unlucky draw.
def exact(target: str, ignore_case: bool = False) -> dict:
    return {"kind": "exact", "target": target, "ignore_case": ignore_case}


def t_uppercase(rng, v):
    s, _ = sentence(rng, v)
    p = rng.choice(
        [
            "Rewrite this sentence in uppercase: {s}",
            "Convert to all capital letters: {s}",
            "Write the following in upper case.\n{s}",
            "Make every letter uppercase: {s}",
        ]
    )
    return p.format(s=s), s.upper(), exact(s.upper())


def t_lowercase(rng, v):
    s, _ = sentence(rng, v)
    s = s.upper() if rng.random() < 0.5 else s
    p = rng.choice(
        [
            "Rewrite this sentence in lowercase: {s}",
            "Convert to all lowercase letters: {s}",
            "Write the following in lower case.\n{s}",
            "Make every letter lowercase: {s}",
        ]
    )
    return p.format(s=s), s.lower(), exact(s.lower())


def t_reverse_words(rng, v):
    s, _ = sentence(rng, v)
    out = " ".join(reversed(words_of(s)))
    p = rng.choice(
        [
            "Reverse the order of the words in: {s}",
            "Write these words in reverse order: {s}",
            "Say this sentence backwards, word by word: {s}",
        ]
    )
    return p.format(s=s), out, exact(out)


def t_count_words(rng, v):
    s, _ = sentence(rng, v)
    n = str(len(words_of(s)))
    p = rng.choice(
        [
            "How many words are in: {s}",
            "Count the words in this sentence: {s}",
            "What is the number of words in the sentence below?\n{s}",
            "Reply with a number only. How many words does this have? {s}",
        ]
    )
    return p.format(s=s), n, exact(n)


def t_count_letters(rng, v):
    w = rng.choice(plain_words(v))
    p = rng.choice(
        [
            'How many letters are in the word "{w}"?',
            'Count the letters in "{w}".',
            "What is the length of the word {w} in letters?",
        ]
    )
    return p.format(w=w), str(len(w)), exact(str(len(w)))


def t_count_char(rng, v):
    w = rng.choice(plain_words(v))
    ch = rng.choice(sorted(set(w)))
    n = str(w.count(ch))
    p = rng.choice(
        [
            'How many times does the letter "{c}" appear in "{w}"?',
            "Count the letter {c} in the word {w}.",
            'In "{w}", how often does "{c}" occur?',
        ]
    )
    return p.format(c=ch, w=w), n, exact(n)


def t_repeat(rng, v):
    w, n = rng.choice(plain_words(v)), rng.randint(2, 5)
    out = " ".join([w] * n)
    p = rng.choice(
        [
            'Repeat the word "{w}" {n} times.',
            "Write {w} {n} times, separated by spaces.",
            'Say "{w}" exactly {nw} times.',
        ]
    )
    return p.format(w=w, n=n, nw=NUMBER_WORDS[n]), out, exact(out)


def t_sort(rng, v):
    ws = rng.sample(plain_words(v), rng.randint(3, 5))
    out = ", ".join(sorted(ws))
    p = rng.choice(
        [
            "Sort these words alphabetically: {l}",
            "Put in alphabetical order: {l}",
            "Arrange the following words from A to Z, separated by commas: {l}",
        ]
    )
    return p.format(l=", ".join(ws)), out, exact(out, ignore_case=True)


def t_first_letters(rng, v):
    s, _ = sentence(rng, v)
    out = "".join(w[0] for w in words_of(s)).lower()
    p = rng.choice(
        [
            "Write the first letter of each word in this sentence, joined together: {s}",
            "Give the initial letters of the words in: {s}",
            "Make an acronym from the first letters of: {s}",
        ]
    )
    return p.format(s=s), out, exact(out, ignore_case=True)


def t_last_word(rng, v):
    s, _ = sentence(rng, v)
    out = words_of(s)[-1]
    p = rng.choice(["What is the last word of: {s}", "Reply with only the final word of this sentence: {s}"])
    return p.format(s=s), out, exact(out, ignore_case=True)


def t_nth_word(rng, v):
    s, _ = sentence(rng, v)
    ws = words_of(s)
    i = rng.randrange(min(len(ws), len(ORDINALS)))
    p = rng.choice(["What is the {o} word in: {s}", "Name the {o} word of this sentence: {s}"])
    return p.format(o=ORDINALS[i], s=s), ws[i], exact(ws[i], ignore_case=True)


def t_spell_backwards(rng, v):
    w = rng.choice(plain_words(v))
    p = rng.choice(
        ['Spell "{w}" backwards.', "Write the word {w} with its letters reversed.", 'Reverse the letters of "{w}".']
    )
    return p.format(w=w), w[::-1], exact(w[::-1], ignore_case=True)


def t_alpha_first(rng, v):
    a, b = rng.sample(plain_words(v), 2)
    out = min(a, b)
    p = rng.choice(
        [
            'Which comes first in alphabetical order, "{a}" or "{b}"?',
            "Of {a} and {b}, which word would a dictionary list first?",
        ]
    )
    return p.format(a=a, b=b), out, exact(out, ignore_case=True)


def t_longest(rng, v):
    ws = rng.sample(plain_words(v), 3)
    lens = sorted(len(w) for w in ws)
    if lens[-1] == lens[-2]:
        return None  # ties have no single answer
    out = max(ws, key=len)
    p = rng.choice(["Which of these words is the longest: {l}?", "Name the longest word in this list: {l}"])
    return p.format(l=", ".join(ws)), out, exact(out, ignore_case=True)


def t_hyphens(rng, v):
    ws = rng.sample(plain_words(v), rng.randint(2, 4))
    out = "-".join(ws)
    p = rng.choice(["Join these words with hyphens: {l}", "Connect the words {l} using dashes, no spaces."])
    return p.format(l=" ".join(ws)), out, exact(out)


def t_title_case(rng, v):
    s, _ = sentence(rng, v)
    s = s.lower()
    out = " ".join(w[0].upper() + w[1:] for w in s.split())
    p = rng.choice(["Capitalize the first letter of every word: {s}", "Convert to title case: {s}"])
    return p.format(s=s), out, exact(out)


def t_json(rng, v):
    s, used = sentence(rng, v)
    if rng.random() < 0.3:
        n = len(words_of(s))
        p = rng.choice(
            [
                'Return a JSON object with the key "word_count" giving the number of words in: {s}',
                'Count the words in the sentence below and answer as JSON with key "word_count".\n{s}',
            ]
        )
        return p.format(s=s), json.dumps({"word_count": n}), {"kind": "json_key", "key": "word_count", "value": n}
    keys = [k for k in ("animal", "object", "food", "color", "place", "name") if k in used]
    key = rng.choice(keys)
    p = rng.choice(
        [
            'Answer with a JSON object whose key "{k}" holds the {k} mentioned in: {s}',
            'Extract the {k} from this sentence as JSON with the key "{k}": {s}',
            'Reply only with JSON like {{"{k}": ...}} for the sentence: {s}',
        ]
    )
    return (p.format(k=key, s=s), json.dumps({key: used[key]}), {"kind": "json_key", "key": key, "value": used[key]})


def t_bullets(rng, v):
    ws = rng.sample(plain_words(v), rng.randint(2, 5))
    out = "\n".join(f"- {w}" for w in ws)
    p = rng.choice(
        [
            "Turn these words into a bulleted list: {l}",
            "Write each of these as its own bullet point: {l}",
            "Respond with exactly {n} bullet points, one per word: {l}",
        ]
    )
    c = {"kind": "all", "of": [{"kind": "bullets", "n": len(ws)}, {"kind": "includes", "words": ws}]}
    return p.format(l=", ".join(ws), n=len(ws)), out, c


def t_includes(rng, v):
    a, pl, adj = rng.choice(v["animal"]), rng.choice(v["place"]), rng.choice(v["adj"])
    out = f"The {adj} {a} walked to the {pl}."
    p = rng.choice(
        [
            'Write one short sentence that uses the words "{a}" and "{p}".',
            "Make a sentence containing both {a} and {p}.",
            "Use the words {a} and {p} in a single sentence.",
        ]
    )
    return p.format(a=a, p=pl), out, {"kind": "includes", "words": [a, pl]}


def t_excludes(rng, v):
    s, used = sentence(rng, v)
    drop = rng.choice([w for w in words_of(s)[1:] if w in used.values()] or [None])
    if drop is None:
        return None
    out = " ".join(w for w in words_of(s) if w != drop) + "."
    keep = [w for w in used.values() if w != drop and w in out][:2]
    p = rng.choice(
        [
            'Repeat this sentence but leave out the word "{d}": {s}',
            "Remove the word {d} from: {s}",
            'Rewrite the sentence without using the word "{d}".\n{s}',
        ]
    )
    c = {"kind": "all", "of": [{"kind": "excludes", "words": [drop]}, {"kind": "includes", "words": keep}]}
    return p.format(d=drop, s=s), out, c


def t_ends_with(rng, v):
    s, _ = sentence(rng, v)
    ph = rng.choice(v["closing"])
    p = rng.choice(
        [
            'Copy this sentence and finish your reply with "{ph}"\n{s}',
            'Repeat the sentence below, then end with the phrase "{ph}" {s}',
            'End your answer with "{ph}" after restating: {s}',
        ]
    )
    return p.format(ph=ph, s=s), f"{s} {ph}", {"kind": "ends_with", "phrase": ph}


def t_starts_with(rng, v):
    s, used = sentence(rng, v)
    cat = rng.choice([k for k in ("animal", "place", "object", "food") if k in used] or [None])
    if cat is None:
        return None
    ph = rng.choice(v["opening"])
    p = rng.choice(
        [
            'Begin your answer with "{ph}" and name the {c} in: {s}',
            'Start your reply with "{ph}". Which {c} appears in this sentence? {s}',
        ]
    )
    c = {"kind": "all", "of": [{"kind": "starts_with", "phrase": ph}, {"kind": "includes", "words": [used[cat]]}]}
    return p.format(ph=ph, c=cat, s=s), f"{ph} {used[cat]}.", c


def t_caps_answer(rng, v):
    s, used = sentence(rng, v)
    cat = rng.choice([k for k in ("animal", "place", "object", "food", "color") if k in used] or [None])
    if cat is None:
        return None
    p = rng.choice(
        [
            "Answer in capital letters only: what {c} is mentioned in this sentence? {s}",
            "Using only uppercase letters, name the {c} in: {s}",
        ]
    )
    c = {"kind": "all", "of": [{"kind": "uppercase"}, {"kind": "includes", "words": [used[cat]]}]}
    return p.format(c=cat, s=s), used[cat].upper(), c


def t_lower_answer(rng, v):
    s, used = sentence(rng, v)
    if "name" not in used:
        return None
    p = rng.choice(
        [
            "Using only lowercase letters, who is the person in this sentence? {s}",
            "Reply in all lowercase: which person is named here? {s}",
        ]
    )
    c = {"kind": "all", "of": [{"kind": "lowercase"}, {"kind": "includes", "words": [used["name"]]}]}
    return p.format(s=s), used["name"].lower(), c


def t_max_words(rng, v):
    cat = rng.choice(sorted(KIND_OF))
    w = rng.choice(v[cat])
    art = "" if cat == "color" else ("an " if w[0] in "aeiou" else "a ")  # colors take no article
    out = f"{art}{w} is {KIND_OF[cat]}."
    out = out[0].upper() + out[1:]
    n = rng.randint(len(out.split()), 8)
    p = rng.choice(
        [
            'In {n} words or fewer, say what kind of thing "{w}" is.',
            "Using at most {n} words, tell me what {art}{w} is.",
        ]
    )
    c = {"kind": "all", "of": [{"kind": "max_words", "n": n}, {"kind": "includes", "words": [w]}]}
    return p.format(n=n, w=w, art=art), out, c


def t_word_count(rng, v):
    a, adj, adj2 = rng.choice(v["animal"]), rng.choice(v["adj"]), rng.choice(v["adj"])
    forms = {
        4: f"The {a} looks {adj}.",
        5: f"I saw a {adj} {a}.",
        6: f"The {adj} {a} is very {adj2}.",
        7: f"Yesterday I saw a {adj} {a} outside.",
    }
    n = rng.choice(sorted(forms))
    p = rng.choice(["Write a sentence of exactly {n} words about a {a}.", "Describe a {a} in exactly {n} words."])
    c = {"kind": "all", "of": [{"kind": "word_count", "n": n}, {"kind": "includes", "words": [a]}]}
    return p.format(n=n, a=a), forms[n], c


TASKS: dict[str, Callable] = {
    name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("t_") and callable(fn)
}


# ---------------------------------------------------------------- follow: IFEval-style held-out rows
# Open requests with one verifiable format constraint each (Zhou et al. 2023, IFEval, arXiv
# 2311.07911): what a small chat model can do, unlike the drills above (counting letters, reversing
# words), which measure skills a 135M model never had. Every constraint also asks for a content word
# of the request, so a model that answers with noise or nothing scores 0 (a format alone, such as
# "no commas", is met by silence). Drawn from held-out words only; never trained on.
def topic(rng, v) -> tuple[str, str]:
    """(category, word) of a thing to write about."""
    cat = rng.choice(["animal", "food", "object", "place"])
    return cat, rng.choice(v[cat])


def includes(*words: str) -> dict:
    return {"kind": "includes", "words": list(words)}


def every(*constraints: dict) -> dict:
    return {"kind": "all", "of": list(constraints)}


def f_keyword(rng, v):
    _, w = topic(rng, v)
    extra = rng.choice(v["color"] + v["adj"])
    p = rng.choice(
        [
            'Write one sentence about a {w} that uses the word "{x}".',
            "Describe a {w} in one sentence. Use the word {x}.",
        ]
    )
    return p.format(w=w, x=extra), f"The {extra} {w} is easy to spot.", includes(w, extra)


def f_lowercase(rng, v):
    _, w = topic(rng, v)
    p = rng.choice(
        [
            "Write one sentence about a {w}, using only lowercase letters.",
            "Describe a {w} in one sentence. Do not use any capital letters.",
        ]
    )
    return p.format(w=w), f"a {w} is something people know well.", every({"kind": "lowercase"}, includes(w))


def f_uppercase(rng, v):
    _, w = topic(rng, v)
    p = rng.choice(
        [
            "Write one short sentence about a {w} in all capital letters.",
            "Describe a {w} in one sentence, using only uppercase letters.",
        ]
    )
    return p.format(w=w), f"A {w.upper()} IS EASY TO FIND.", every({"kind": "uppercase"}, includes(w))


def f_json(rng, v):
    cat, w = topic(rng, v)
    key = rng.choice(["name", "description", "color"])
    p = rng.choice(
        ['Describe a {w} as a JSON object with the key "{k}".', 'Answer only with JSON: give a {w} a "{k}" field.']
    )
    return p.format(w=w, k=key), json.dumps({key: w}), {"kind": "json_key", "key": key}


def f_bullets(rng, v):
    cat, w = topic(rng, v)
    n = rng.randint(2, 4)
    p = rng.choice(
        ["List {nw} facts about a {w} as a bulleted list.", "Give {nw} bullet points about a {w}, one fact each."]
    )
    out = "\n".join(f"- A {w} is thing {i + 1}." for i in range(n))
    return p.format(nw=NUMBER_WORDS[n], w=w), out, {"kind": "bullets_at_least", "n": n}


def f_starts_with(rng, v):
    _, w = topic(rng, v)
    phrase = rng.choice(v["opening"])
    p = rng.choice(
        [
            'Begin your answer with "{o}" and describe a {w} in one sentence.',
            'Start your reply with the words "{o}". What is a {w}?',
        ]
    )
    return (
        p.format(o=phrase, w=w),
        f"{phrase} a {w} is common.",
        every({"kind": "starts_with", "phrase": phrase}, includes(w)),
    )


def f_ends_with(rng, v):
    _, w = topic(rng, v)
    phrase = rng.choice(v["closing"])
    p = rng.choice(
        [
            'Describe a {w} in one sentence, then end your answer with "{c}"',
            'Say what a {w} is in one sentence. Finish with the phrase "{c}"',
        ]
    )
    return (
        p.format(w=w, c=phrase),
        f"A {w} is common. {phrase}",
        every({"kind": "ends_with", "phrase": phrase}, includes(w)),
    )


def f_max_words(rng, v):
    _, w = topic(rng, v)
    n = rng.randint(6, 12)
    p = rng.choice(["In at most {n} words, say what a {w} is.", "Describe a {w} in {n} words or fewer."])
    return p.format(n=n, w=w), f"A {w} is common.", every({"kind": "max_words", "n": n}, includes(w))


def f_quoted(rng, v):
    _, w = topic(rng, v)
    p = rng.choice(
        [
            "Write one sentence about a {w} and put your whole answer in double quotation marks.",
            'Wrap your entire reply in double quotes ("). Describe a {w}.',
        ]
    )
    return p.format(w=w), f'"A {w} is common."', every({"kind": "quoted"}, includes(w))


def f_min_words(rng, v):
    _, w = topic(rng, v)
    n = rng.randint(15, 25)
    p = rng.choice(["Describe a {w} in at least {n} words.", "Write at least {n} words about a {w}."])
    out = f"A {w} is " + " ".join(["something many people have seen and talked about"] * 3) + "."
    return p.format(n=n, w=w), out, every({"kind": "min_words", "n": n}, includes(w))


def f_mention_twice(rng, v):
    _, w = topic(rng, v)
    p = rng.choice(
        [
            "Write two sentences about a {w}. Use the word {w} in each sentence.",
            'Mention the word "{w}" at least twice while describing it.',
        ]
    )
    return p.format(w=w), f"A {w} is common. Many people like a {w}.", {"kind": "mentions", "word": w, "n": 2}


def f_no_commas(rng, v):
    _, w = topic(rng, v)
    p = rng.choice(
        [
            "Describe a {w} in two sentences without using any commas.",
            "Write about a {w}. Do not use a single comma in your answer.",
        ]
    )
    return p.format(w=w), f"A {w} is common. Many people know one.", every({"kind": "no_commas"}, includes(w))


FOLLOW_TASKS: dict[str, Callable] = {
    name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("f_") and callable(fn)
}


# ---------------------------------------------------------------- driver
def make_rows(split: str, n: int, seed: int, tasks: dict[str, Callable] = TASKS) -> list[dict]:
    """n rows of `tasks` round-robin; split "follow" draws the held-out words from its own stream."""
    rng = random.Random(f"{seed}-{split}")  # str seeds hash deterministically (sha512)
    v = vocab("heldout" if split == "follow" else split)
    names = sorted(tasks)
    rows, seen = [], set()
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 50 * n:
            raise RuntimeError(f"could not make {n} distinct {split} rows")
        task = names[len(rows) % len(names)]  # round-robin keeps task counts balanced
        got = tasks[task](rng, v)
        if got is None or got[0] in seen:
            continue
        instruction, response, constraint = got
        seen.add(instruction)
        rows.append(
            {
                "id": f"{split}/{task}/{len(rows):05d}",
                "instruction": instruction,
                "response": response,
                "constraint": constraint,
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--n-heldout", type=int, default=200)
    ap.add_argument("--n-follow", type=int, default=120)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train = make_rows("train", args.n_train, args.seed)
    held = make_rows("heldout", args.n_heldout, args.seed)
    write_jsonl(args.out / "train.jsonl", train)
    follow = make_rows("follow", args.n_follow, args.seed, FOLLOW_TASKS)
    write_jsonl(args.out / "heldout.jsonl", held)
    write_jsonl(args.out / "follow.jsonl", follow)
    print(
        f"instruct: {len(train)} train + {len(held)} heldout drill rows ({len(TASKS)} task types), "
        f"{len(follow)} follow rows ({len(FOLLOW_TASKS)} constraint types) -> {args.out}"
    )


if __name__ == "__main__":
    main()
