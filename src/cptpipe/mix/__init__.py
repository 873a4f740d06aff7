"""Mixing: per-phase sampling indexes over token shards (never copies or re-tokenizes)."""
