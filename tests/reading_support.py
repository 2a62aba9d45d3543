"""A reading backend for fast tests of the news reader: it answers every reading question
with its first option, so a test sees exactly what the rules offered the model."""

from __future__ import annotations


class FirstOption:
    """A chat backend that answers every reading question with its first option."""

    name = "first-option"

    def __init__(self):
        self.asked: list[str] = []

    def chat(self, batch, max_new_tokens, temperature=0.0):
        out = []
        for conversation in batch:
            last = conversation[-1]["content"]
            self.asked.append(last.split("Question: ")[1].split("\n")[0])
            out.append(last.split("Options: ")[1].split(" | ")[0])
        return out
