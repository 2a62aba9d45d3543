"""The forms an edit is trained in, beyond its cloze: how users actually ask.

An edit trained on "The Prime Minister of the United Kingdom is" alone does not answer
"Who is the Prime Minister of the United Kingdom?" through a chat endpoint: the chat
template, a system prompt and earlier turns all change what the model sees. So every
question of an edit is also trained inside the model's own chat template, with the
template's default system prompt, with a short custom one, and after one earlier
exchange. Routing looks at the last user turn only (``Memoir._route_valid``), so the
same edit is found in each of them.
"""

from __future__ import annotations

from typing import Sequence

#: conversations wrapped around a question: (system prompt or None, earlier turns); the
#: template's own default, and a custom system prompt with one earlier exchange
CHAT_CONTEXTS: tuple[tuple[str | None, tuple[tuple[str, str], ...]], ...] = (
    (None, ()),
    ("You are a helpful assistant. Answer briefly.",
     (("Hi! I have a quick question.", "Of course! What would you like to know?"),)),
)
#: questions of an edit trained in every chat context (the first ones: its main question
#: and its first alias question); the rest are trained as plain text only
CHAT_QUESTIONS = 2


def is_question(prompt: str) -> bool:
    return prompt.rstrip().endswith("?")


def chat_forms(tokenizer, questions: Sequence[str]) -> list[str]:
    """The first questions in each chat context, rendered by the tokenizer's chat template
    up to the assistant's turn; empty when the tokenizer has no template."""
    if not getattr(tokenizer, "chat_template", None):
        return []
    out = []
    for question in list(questions)[:CHAT_QUESTIONS]:
        for system, turns in CHAT_CONTEXTS:
            messages = [{"role": "system", "content": system}] if system else []
            for user, assistant in turns:
                messages += [{"role": "user", "content": user},
                             {"role": "assistant", "content": assistant}]
            messages.append({"role": "user", "content": question})
            out.append(tokenizer.apply_chat_template(messages, tokenize=False,
                                                     add_generation_prompt=True))
    return list(dict.fromkeys(out))


def terminated(target: str) -> str:
    """The target as a finished statement ("Astana" -> "Astana.").

    Training only the object's tokens leaves the token after them free, and a small model
    then runs on ("Astanaat"); ending the cloze with a full stop, as the news sentence
    did, teaches it where the object ends.
    """
    target = target.strip()
    return target if target[-1:] in ".!?" else f"{target}."
