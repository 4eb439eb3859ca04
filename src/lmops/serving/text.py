"""Token ids to text as they come: incremental decoding that never splits a character, and
stop sequences that end the text before them and are never streamed in part."""

from __future__ import annotations

from typing import Any

_INCOMPLETE = "\ufffd"  # what a tokenizer decodes half a UTF-8 character to


class TextStream:
    """Feed token ids one at a time; `push` answers the text that is safe to send now.

    Decoding re-reads a short window of ids (from `_prefix`), the way byte-level BPE needs:
    a token's text depends on its neighbours (leading spaces, multi-byte characters).
    """

    def __init__(self, tokenizer: Any, stops: list[str]) -> None:
        self._tokenizer = tokenizer
        self._stops = stops
        self._ids: list[int] = []
        self._prefix = 0  # ids before this index are fully decoded into self.text
        self._read = 0
        self.text = ""  # all text decoded so far (stop sequence excluded once found)
        self._sent = 0  # how much of self.text has been handed out
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add one generated id; the newly safe text (may be empty)."""
        if self.stopped:
            return ""
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if after.endswith(_INCOMPLETE) or len(after) <= len(before):
            return ""  # a character still in the middle of its bytes
        self.text += after[len(before) :]
        self._prefix, self._read = self._read, len(self._ids)
        return self._release()

    def finish(self) -> str:
        """The generation ended: whatever was held back for a possible stop sequence, and
        bytes of a character that never completed (decoded as the tokenizer decodes them)."""
        if self.stopped:
            return ""
        before = self._decode(self._ids[self._prefix : self._read])
        self.text += self._decode(self._ids[self._prefix :])[len(before) :]
        self._prefix = self._read = len(self._ids)
        chunk = self._release()
        if self.stopped:
            return chunk
        tail = self.text[self._sent :]
        self._sent = len(self.text)
        return chunk + tail

    def _release(self) -> str:
        if self._stops:
            start = max(0, self._sent - max(len(s) for s in self._stops))
            found = [i for i in (self.text.find(s, start) for s in self._stops) if i >= 0]
            if found:
                self.text = self.text[: min(found)]
                self.stopped = True
                tail = self.text[self._sent :]
                self._sent = len(self.text)
                return tail
        safe = len(self.text) - self._held_back()
        chunk = self.text[self._sent : safe]
        self._sent = max(self._sent, safe)
        return chunk

    def _held_back(self) -> int:
        """Length of the longest tail of the text that could still grow into a stop sequence."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(self.text)), longest, -1):
                if self.text.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def _decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))
