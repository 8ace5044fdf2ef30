"""Rule timing: a condition must hold for a while before a rule activates, and be false for a
while before it releases. Times are frame timestamps (ns), so a replay decides as the live run did."""

from __future__ import annotations


class HoldTimer:
    def __init__(self, min_duration_ms: float, release_ms: float) -> None:
        self._min_duration_ns = round(min_duration_ms * 1e6)
        self._release_ns = round(release_ms * 1e6)
        self._true_since_ns: int | None = None
        self._false_since_ns: int | None = None
        self.active = False

    def update(self, condition: bool, t_ns: int) -> bool:
        """Feed this frame's condition; return whether the rule is active after it."""
        if condition:
            self._false_since_ns = None
            if self._true_since_ns is None:
                self._true_since_ns = t_ns
            if not self.active and t_ns - self._true_since_ns >= self._min_duration_ns:
                self.active = True
        else:
            self._true_since_ns = None
            if self._false_since_ns is None:
                self._false_since_ns = t_ns
            if self.active and t_ns - self._false_since_ns >= self._release_ns:
                self.active = False
        return self.active

    def reset(self) -> None:
        self._true_since_ns = self._false_since_ns = None
        self.active = False
