"""Recipes as data: a phase's shares and budget (params.yaml `recipes.<r>.phases`) -> tokens per source.

The shipped recipes follow Jiang et al. 2024 (arXiv 2402.12847, "Instruction-tuned Language Models are
Better Knowledge Learners", section 3) and Allen-Zhu & Li 2023 (arXiv 2309.14316); params.yaml writes
them and README "Recipes" says what each is. Nothing here knows a recipe by name: a phase is the
sources it draws from, their shares and a budget.

Budget arithmetic is exact (fractions of the decimal shares as written), so a phase written with
today's shares gives the same integers whatever order the shares are summed in:
- documents with QA mixed in: the documents stream (domain, replay, instruct) gets the budget, QA is
  added on top as its share of the phase, in a stream of its own (one pair per block);
- documents without QA: the budget is split over the sources (largest remainder);
- no documents (QA, instructions, with replay pieces cut to the pair block length): the budget's
  source gets its passes, every other source its share relative to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from cptpipe.params import OWN_SOURCES, SOURCES, MixParams, PhaseParams, RecipeParams

# Sources whose rows are prompt/answer pairs: sampled whole, never split across blocks.
PAIR_SOURCES = frozenset({"qa", "instruct"})
# Sources that make a phase "documents": packed into seq_len blocks.
DOCUMENT_SOURCES = frozenset({"domain"})


@dataclass(frozen=True)
class PhasePlan:
    name: str
    budgets: dict[str, int]  # tokens per source, in SOURCES order, zeros dropped
    interleave: dict[str, int] | None  # the QA stream beside the documents of a documents + QA phase
    shares: dict[str, float]  # the phase's requested share per source (of all its tokens)
    budget: str  # the budget in words, e.g. "20 passes over domain"


def _exact(x: float) -> Fraction:
    """A share or count as the decimal the user wrote (0.06 is 6/100, not the nearest binary float)."""
    return Fraction(repr(float(x)))


def phase_shares(phase: PhaseParams, mix: MixParams) -> dict[str, Fraction]:
    """Share of the phase's tokens per source (exact; sums to 1): replay and instruct as given (else
    mix.replay / mix.instruct), domain and qa share the rest in the proportions of their weights."""
    replay = _exact(mix.replay if phase.replay is None else phase.replay)
    instruct = _exact(mix.instruct if phase.instruct is None else phase.instruct)
    weights = {s: _exact(getattr(phase, s)) for s in OWN_SOURCES if getattr(phase, s) is not None}
    rest, total = 1 - replay - instruct, sum(weights.values())
    shares = {s: rest * w / total for s, w in weights.items()}
    shares.update(replay=replay, instruct=instruct)
    return {s: shares[s] for s in SOURCES if shares.get(s)}


def _budget(phase: PhaseParams, mix: MixParams, shares: dict) -> tuple[str | None, Fraction | None, int | None]:
    """(source, passes, None) or (None, None, tokens): the phase's own budget, else the mix default."""
    if phase.passes:
        ((source, n),) = phase.passes.items()
        return source, _exact(n), None
    if phase.tokens is not None:
        return None, None, phase.tokens
    if "domain" in shares:
        if mix.domain_epochs is not None:
            return "domain", _exact(mix.domain_epochs), None
        return None, None, mix.tokens
    return "qa", _exact(mix.qa_epochs), None


def _round(x: Fraction) -> int:
    return round(x)  # Fraction rounds half to even, as Python's round of a float does


def split_exact(total: int, shares: dict[str, Fraction]) -> dict[str, int]:
    """Integer budgets summing exactly to total (largest remainder; ties in `shares` order)."""
    raw = {k: total * v for k, v in shares.items()}
    base = {k: int(v) for k, v in raw.items()}
    rest = total - sum(base.values())
    for k in sorted(raw, key=lambda k: raw[k] - base[k], reverse=True)[:rest]:
        base[k] += 1
    return base


def plan_phase(name: str, phase: PhaseParams, mix: MixParams, train_tokens: dict[str, int]) -> PhasePlan:
    """Tokens per source of one phase (see the module docstring for the three cases)."""
    shares = phase_shares(phase, mix)
    source, passes, tokens = _budget(phase, mix, shares)
    words = f"{tokens} tokens" if tokens is not None else f"{float(passes):g} passes over {source}"
    interleave = None
    if DOCUMENT_SOURCES & shares.keys() and "qa" in shares:
        q = shares["qa"]
        stream = {k: v / (1 - q) for k, v in shares.items() if k != "qa"}
        if tokens is not None:
            total = tokens
        elif source == "qa":
            total = _round(_round(passes * train_tokens["qa"]) * (1 - q) / q)
        else:
            total = _round(passes * train_tokens[source] / stream[source])
        budgets = split_exact(total, stream)
        qa = _round(passes * train_tokens["qa"]) if source == "qa" else _round(total * q / (1 - q))
        interleave = {"qa": qa}
    elif DOCUMENT_SOURCES & shares.keys():
        total = tokens if tokens is not None else _round(passes * train_tokens[source] / shares[source])
        budgets = split_exact(total, shares)
    elif tokens is not None:
        budgets = split_exact(tokens, shares)
    else:
        anchor = _round(passes * train_tokens[source])
        budgets = {k: anchor if k == source else _round(anchor * v / shares[source]) for k, v in shares.items()}
    return PhasePlan(
        name,
        {k: v for k, v in budgets.items() if v > 0},
        interleave,
        {k: float(v) for k, v in shares.items()},
        words,
    )


def plan_recipe(recipe: RecipeParams, mix: MixParams, train_tokens: dict[str, int]) -> list[PhasePlan]:
    """Every phase of a recipe, in order."""
    return [plan_phase(name, phase, mix, train_tokens) for name, phase in recipe.phases.items()]
