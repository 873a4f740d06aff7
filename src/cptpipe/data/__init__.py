"""Data stages: ingest raw documents, sample sources, token shards."""
