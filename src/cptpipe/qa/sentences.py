"""The one sentence splitter of QA mining (rules over prose, reference text): abbreviations do not end a sentence."""

from __future__ import annotations

import re

_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])")
_SPLIT_NOT_AT_DIGIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(])")
# "D. Richard Hipp", "e.g. strtol", "Dr. Smith", "cf. Sec. 3" stay one sentence.
_ABBREV = re.compile(r"(?:\b[A-Z]|\b(?:Dr|Mr|Mrs|Ms|St|Jr|Sr|vs|cf|etc|e\.g|i\.e|No|Sec|Fig|approx))\.$")


def sentences(prose: str, *, digit_starts: bool = True) -> list[str]:
    """The sentences of one line of prose, in order (empty pieces dropped; white space inside kept as given).

    digit_starts: whether a sentence may begin with a digit. Reference text passes False: its digits after
    a full stop are clause numbers and addresses ("Inc. 675 Mass Ave", "below. 1. You may"), not sentences.
    """
    out: list[str] = []
    for piece in (_SPLIT if digit_starts else _SPLIT_NOT_AT_DIGIT).split(prose):
        if out and _ABBREV.search(out[-1]):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return [s for s in out if s]
