"""QA synthesis: question-answer pairs of documents, split by document into train / held-out."""
