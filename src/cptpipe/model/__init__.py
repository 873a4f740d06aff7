"""The start model: a scratch tiny Llama with its sentencepiece tokenizer, or a pinned hub/local model."""
