"""Bundled model checkpoints (package data): the demo reader ``minilm-squad-demo``."""
