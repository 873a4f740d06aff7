"""Reference-text mining on snippets of the real samples (man pages, licenses)."""

from cptpipe.qa import reference

STRTOL_ERRORS = """ERRORS

EINVAL
(not in C99) The given base contains an unsupported value.

ERANGE
The resulting value was out of range.

EFAULT
The buffer points outside your accessible address space."""


def test_definition_list_entries_and_count():
    facts, reasoning = reference.definition_list(STRTOL_ERRORS, "strtol(3)", "ERRORS")
    assert [(f.questions, f.answer) for f in facts][1] == (
        ("Which entry of the ERRORS section of strtol(3) is described as: “The resulting value was out of range”?",),
        "ERANGE",
    )
    assert facts[0].answer == "EINVAL"  # "(not in C99)" is not part of the description
    assert [(r.question, r.answer) for r in reasoning] == [
        ("How many entries does the ERRORS section of strtol(3) list?", "3")
    ]


def test_name_line_and_which_function():
    items = reference.name_line(
        "strtol(3)\n\nNAME\n\nstrtol, strtoll, strtoq - convert a string to a long integer", "strtol(3)"
    )
    assert [(f.questions, f.answer, f.subject) for f in items] == [
        (
            ("What does strtol do, in one line, according to strtol(3)?",),
            "convert a string to a long integer",
            "strtol(3)",
        )
    ]
    items = reference.sentence_facts(
        "The srand() function sets its argument as the seed for a new sequence of "
        "pseudo-random integers to be returned by rand().",
        "rand(3)",
    )
    assert (
        "In rand(3), which function sets its argument as the seed for a new sequence of pseudo-random "
        "integers to be returned by rand()?",
        "srand()",
    ) in [(f.questions[0], f.answer) for f in items]


def test_definitions_constraints_conditions():
    defined = reference.sentence_facts(
        '"Commercial Use" means distribution or otherwise making the Covered Code available to a third party.',
        "Mozilla Public License 1.1",
    )
    assert [(i.rel, i.answer) for i in defined] == [("define_term", "Commercial Use")]
    sent = (
        "The strtol() function converts the initial part of the string in nptr to a long integer value "
        "according to the given base, which must be between 2 and 36 inclusive, or be the special value 0."
    )
    got = {(f.rel, f.questions[0], f.answer) for f in reference.sentence_facts(sent, "strtol(3)")}
    assert ("constraint", "In strtol(3), what must the given base be?", "between 2 and 36 inclusive") in got
    cond = "If an overflow occurs, strtol() returns LONG_MAX."
    assert reference.sentence_facts(cond, "strtol(3)") == []
    assert [(p.type, p.question, p.answer, p.template) for p in reference.sentence_reasoning(cond, "strtol(3)")] == [
        (
            "reasoning",
            "In strtol(3), what happens if an overflow occurs?",
            "strtol() returns LONG_MAX",
            "reasoning/condition/0",
        )
    ]


def test_section_lead_summary_skips_synopsis_and_list_items():
    text = (
        "SYNOPSIS\n\n#include <stdlib.h>\nint abs(int j);\n\nDESCRIPTION\n\n"
        "The abs() function computes the absolute value of the integer argument j. Nothing else happens here."
    )
    (item,) = reference.lead_summary(text, "abs(3)", "")
    assert item.answer.startswith("The abs() function computes") and item.type == "summarization"
    assert reference.lead_summary("a) Convey the object code in a physical product.", "GPL", "6. Conveying") == []
