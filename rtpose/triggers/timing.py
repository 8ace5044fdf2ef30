"""Rule timing on frame timestamps (ns), so a replay decides as the live run did.

A rule turns on once its condition has held for ``min_duration_ms`` (measured from the first
frame it held to the current frame: frames every 10 ms with 100 ms needed fire on the 11th
consecutive frame, never on the 10th). It turns off once the condition has been false for
``release_ms`` (0: on the first false frame), or when it has been on for ``max_on_ms``. After
turning off it cannot turn on again for ``refractory_ms``; the condition must then hold for
``min_duration_ms`` after the refractory period ends. After a ``max_on_ms`` cut-off the
condition must also be false once before it can count again, so a condition that stays true
does not re-trigger the rule.
"""

from __future__ import annotations

NEVER = -(1 << 62)


class RuleTimer:
    def __init__(
        self,
        min_duration_ms: float = 0.0,
        release_ms: float = 0.0,
        refractory_ms: float = 0.0,
        max_on_ms: float | None = None,
    ) -> None:
        self._min_duration_ns = round(min_duration_ms * 1e6)
        self._release_ns = round(release_ms * 1e6)
        self._refractory_ns = round(refractory_ms * 1e6)
        self._max_on_ns = None if max_on_ms is None else round(max_on_ms * 1e6)
        self.reset()

    def reset(self) -> None:
        self._true_since_ns: int | None = None
        self._false_since_ns: int | None = None
        self._on_since_ns = NEVER
        self._blocked_until_ns = NEVER
        self._needs_false = False
        self.active = False

    def update(self, condition: bool, t_ns: int) -> bool:
        """Feed this frame's condition; return whether the rule is active after it."""
        if self.active:
            self._update_active(condition, t_ns)
        else:
            self._update_inactive(condition, t_ns)
        return self.active

    def _update_active(self, condition: bool, t_ns: int) -> None:
        if condition:
            self._false_since_ns = None
        elif self._false_since_ns is None:
            self._false_since_ns = t_ns
        released = self._false_since_ns is not None and t_ns - self._false_since_ns >= self._release_ns
        cut_off = self._max_on_ns is not None and t_ns - self._on_since_ns >= self._max_on_ns
        if released or cut_off:
            self.active = False
            self._blocked_until_ns = t_ns + self._refractory_ns
            self._needs_false = cut_off and not released
            self._true_since_ns = None

    def _update_inactive(self, condition: bool, t_ns: int) -> None:
        if not condition:
            self._true_since_ns = None
            self._needs_false = False
            return
        if self._needs_false or t_ns < self._blocked_until_ns:
            return
        if self._true_since_ns is None:
            self._true_since_ns = t_ns
        if t_ns - self._true_since_ns >= self._min_duration_ns:
            self.active = True
            self._on_since_ns = t_ns
            self._false_since_ns = None
