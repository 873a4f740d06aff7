"""Recipes as sequences of phases, each phase a token budget per source."""

from __future__ import annotations

from cptpipe.params import MixParams

# Phase order per recipe (Jiang et al. 2024, arXiv 2402.12847): "pit" puts QA of the training
# documents before the documents; "it_after_cpt" is their standard order (documents, then QA).
RECIPES: dict[str, tuple[str, ...]] = {
    "cpt": ("docs",),
    "pit": ("qa", "docs"),
    "it_after_cpt": ("docs", "qa"),
    "pit_final_it": ("qa", "docs", "final_it"),
}
FINAL_IT_INSTRUCT = 0.1  # share of instruction tokens in the closing instruction-tuning pass


def docs_tokens(mix: MixParams, domain_train_tokens: int) -> int:
    """Tokens of the documents phase: mix.tokens, or mix.domain_epochs passes over the domain's
    train tokens (the phase total then follows from mix.domain so the shares stay as requested)."""
    if mix.domain_epochs is None:
        return int(mix.tokens)
    return int(round(mix.domain_epochs * domain_train_tokens / mix.domain))


def phase_budgets(recipe: str, mix: MixParams, qa_train_tokens: int, domain_train_tokens: int = 0
                  ) -> list[tuple[str, dict[str, int]]]:
    """[(phase, {source: tokens})] for a recipe; QA phases size by mix.qa_epochs over train QA."""
    out = []
    for phase in RECIPES[recipe]:
        if phase == "docs":
            shares = {"domain": mix.domain, "replay": mix.replay, "instruct": mix.instruct, "qa": mix.qa}
            budgets = _split_exact(docs_tokens(mix, domain_train_tokens), shares)
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
