"""Data: SQuAD types and loader, corpus reading, answer normalisation (no Haystack component, no app code)."""
