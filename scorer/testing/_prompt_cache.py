"""The fake server's prompt cache: cached prompt tokens when a prompt's prefix repeats.

OpenAI caches prompts of at least 1,024 tokens, and serves the longest
previously seen prefix in steps of 128 tokens; its answers report that part
as ``usage.prompt_tokens_details.cached_tokens``. The fake plays the same rule
on its own tokens (the whitespace-separated words of the messages, in order),
with the minimum and the step settable so short test prompts can hit it.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

__all__ = ["PromptCache", "prompt_words"]


def prompt_words(body: dict[str, Any]) -> list[str]:
    """The fake's tokens of a chat request: the words of every message, in order."""
    words: list[str] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if isinstance(content, str):
            words.extend(content.split())
    return words


class PromptCache:
    """Remembers prompt prefixes; :meth:`cached_tokens` says how much of a prompt was seen.

    >>> cache = PromptCache(minimum=4, step=2)
    >>> cache.cached_tokens("a b c d e f".split()), cache.cached_tokens("a b c d e x".split())
    (0, 4)
    """

    def __init__(self, minimum: int = 1024, step: int = 128) -> None:
        if minimum < 1 or step < 1:
            raise ValueError("minimum and step must be at least 1")
        self.minimum = minimum
        self.step = step
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def cached_tokens(self, words: list[str]) -> int:
        """The longest prefix of ``words`` seen before (0 below ``minimum``); then remember it."""
        digests: list[tuple[int, bytes]] = []
        running = hashlib.sha256()
        done = 0
        for end in range(self.minimum, len(words) + 1, self.step):
            running.update("\0".join(words[done:end]).encode() + b"\1")
            done = end
            digests.append((end, running.copy().digest()))
        with self._lock:
            hit = max((end for end, d in digests if d in self._seen), default=0)
            self._seen.update(d for _, d in digests)
        return hit
