"""Recipes as sequences of phases, each phase a token budget per source.

The recipe names follow Jiang et al. 2024 (arXiv 2402.12847, "Instruction-tuned Language Models are
Better Knowledge Learners"), section 3 and figure 3:
- `it_after_cpt`: their "standard instruction-tuning": continued pre-training on the documents,
  then instruction tuning on QA pairs.
- `pit`: their pre-instruction-tuning "PIT": QA pairs first, then the documents *mixed with those QA
  pairs* (the second phase keeps the answer format alive; QA then documents alone makes a small
  model answer in document prose).
- `mixed`: documents and QA interleaved from the start (Allen-Zhu & Li, "Physics of Language
  Models 3.1", arXiv 2309.14316: "mixed training", their strongest setting).
- `cpt`: documents (+ replay + instruct) only.
- `pit_docs_only`: QA, then the documents alone: a control, not a recipe of the paper.
- `pit_final_it`: pit, then a short closing pass over QA and instructions.
"""

from __future__ import annotations

from cptpipe.params import MixParams

# Phases: "qa" trains QA pairs one per sequence; "docs" the documents with replay and instructions
# by the mix shares; "docs_qa" the same plus train-split QA as mix.qa of the phase's tokens.
RECIPES: dict[str, tuple[str, ...]] = {
    "cpt": ("docs",),
    "it_after_cpt": ("docs", "qa"),
    "pit": ("qa", "docs_qa"),
    "mixed": ("docs_qa",),
    "pit_docs_only": ("qa", "docs"),
    "pit_final_it": ("qa", "docs_qa", "final_it"),
}
QA_MIXED_RECIPES = frozenset(r for r, phases in RECIPES.items() if "docs_qa" in phases)
# Sources whose rows are prompt/answer pairs: sampled whole, never split across blocks.
PAIR_SOURCES = frozenset({"qa", "instruct"})
FINAL_IT_INSTRUCT = 0.1  # share of instruction tokens in the closing instruction-tuning pass


def docs_tokens(mix: MixParams, domain_train_tokens: int) -> int:
    """Tokens of domain + replay + instruct in a documents phase: mix.tokens, or mix.domain_epochs
    passes over the domain's train tokens (the phase total then follows from mix.domain)."""
    if mix.domain_epochs is None:
        return int(mix.tokens)
    return int(round(mix.domain_epochs * domain_train_tokens / mix.domain))


def phase_budgets(
    recipe: str, mix: MixParams, qa_train_tokens: int, domain_train_tokens: int = 0
) -> list[tuple[str, dict[str, int]]]:
    """[(phase, {source: tokens})] for a recipe.

    QA phases size by mix.qa_epochs passes over the train QA; a docs_qa phase adds QA tokens on top of
    the documents so that QA is mix.qa of the phase: the documents are read exactly as often as in
    `cpt`, which keeps recipe comparisons about order and QA exposure, not about document passes.
    """
    out = []
    for phase in RECIPES[recipe]:
        if phase in ("docs", "docs_qa"):
            shares = {"domain": mix.domain, "replay": mix.replay, "instruct": mix.instruct}
            docs = docs_tokens(mix, domain_train_tokens)
            budgets = _split_exact(docs, shares)
            if phase == "docs_qa":
                budgets["qa"] = int(round(docs * mix.qa / (1 - mix.qa)))
        elif phase == "qa":
            budgets = {"qa": int(round(mix.qa_epochs * qa_train_tokens))}
        else:  # final_it: one pass over train QA with a little instruction data
            qa = qa_train_tokens
            budgets = {"qa": qa, "instruct": int(round(qa * FINAL_IT_INSTRUCT / (1 - FINAL_IT_INSTRUCT)))}
        out.append((phase, {k: v for k, v in budgets.items() if v > 0}))
    return out


def _split_exact(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Integer budgets summing exactly to total (largest remainder)."""
    raw = {k: total * v for k, v in shares.items()}
    base = {k: int(v) for k, v in raw.items()}
    rest = total - sum(base.values())
    for k in sorted(raw, key=lambda k: raw[k] - base[k], reverse=True)[:rest]:
        base[k] += 1
    return base
