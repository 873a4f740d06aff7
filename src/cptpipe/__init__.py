"""cptpipe: declarative, reproducible continued pre-training of language models on DVC."""

__version__ = "0.1.0"
