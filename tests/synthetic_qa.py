"""A small synthetic SQuAD-format QA set whose answer depends on the question (for learnability tests)."""

from __future__ import annotations

import random

COLORS = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange"]
ANIMALS = ["cat", "dog", "horse", "mouse", "tiger", "eagle", "whale", "snake"]
FILLER = ["the", "a", "of", "in", "on", "at", "and", "river", "city", "museum", "year", "model"]
VOCAB_WORDS = COLORS + ANIMALS + FILLER + ["which", "color", "animal", "is", "it", "saw", "we"]


def synthetic_squad(n: int, seed: int, impossible_fraction: float = 0.0, distractor: float = 0.0) -> dict:
    """``n`` questions "which color ..." / "which animal ..." over short random contexts.

    Each context holds a word of the asked category; with probability ``distractor`` it also holds a word of the
    other category (then the question decides the answer). Impossible questions lose their answer word."""
    rng = random.Random(seed)
    paragraphs = []
    for index in range(n):
        color, animal = rng.choice(COLORS), rng.choice(ANIMALS)
        ask_color = rng.random() < 0.5
        words = [rng.choice(FILLER) for _ in range(rng.randint(6, 14))]
        with_distractor = rng.random() < distractor
        if ask_color or with_distractor:
            words.insert(rng.randint(0, len(words)), color)
        if not ask_color or with_distractor:
            words.insert(rng.randint(0, len(words)), animal)
        context = " ".join(words) + "."
        starts = {}
        position = 0
        for word in words:
            starts.setdefault(word, position)
            position += len(word) + 1
        answer = color if ask_color else animal
        question = "which color is it?" if ask_color else "which animal is it?"
        qa = {"id": f"s{seed}-{index}", "question": question}
        if rng.random() < impossible_fraction:
            context = context.replace(answer, rng.choice(FILLER))
            qa.update(answers=[], is_impossible=True)
        else:
            start = starts[answer]
            qa.update(answers=[{"text": answer, "answer_start": start}], is_impossible=False)
        paragraphs.append({"context": context, "qas": [qa]})
    return {"version": "v2.0", "data": [{"title": "synthetic", "paragraphs": paragraphs}]}
