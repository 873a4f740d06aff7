"""Evaluation helpers: perplexity, instruction-following checks."""
