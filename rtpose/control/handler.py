"""The control thread's logic: parse a request, answer ``status`` itself, prepare the other
commands and hand them to the loop, and turn every outcome into a reply. No sockets here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from rtpose.control.applier import ReplaceRule
from rtpose.control.commands import (
    Arm,
    Command,
    RequestError,
    SetParameter,
    Status,
    error_reply,
    parse_request,
)
from rtpose.control.mailbox import Mailbox
from rtpose.triggers.rule_set import Rule

RuleBuilder = Callable[[int, Any], Rule]
"""Builds the rule at an index from a (validated) rule config, as the run built it."""


class ControlHandler:
    """Turns request frames into replies. Used by one thread (the control server's).

    ``rule_configs`` are the rules' pydantic configs, in rule order; ``status`` is called for the
    ``status`` command and must be safe to call from this thread (a read-only snapshot).
    """

    def __init__(
        self,
        mailbox: Mailbox,
        rule_configs: list[BaseModel],
        build_rule: RuleBuilder,
        status: Callable[[], dict[str, Any]],
        reply_timeout_s: float,
    ) -> None:
        self._mailbox = mailbox
        self._configs = list(rule_configs)
        self._names = [str(getattr(config, "name", "")) for config in rule_configs]
        self._build_rule = build_rule
        self._status = status
        self._timeout_s = reply_timeout_s
        self.errors = 0
        self.applied = 0

    def handle(self, frames: list[bytes]) -> dict[str, Any]:
        try:
            reply = self._handle(parse_request(frames))
        except RequestError as error:
            reply = error_reply(str(error))
        except Exception as error:  # a bug must not kill the control thread; report it
            reply = error_reply(f"internal error: {type(error).__name__}: {error}")
        if reply.get("ok"):
            self.applied += 0 if reply.get("command") == "status" else 1
        else:
            self.errors += 1
        return reply

    def _handle(self, command: Command) -> dict[str, Any]:
        if isinstance(command, Status):
            return {"ok": True, "command": "status", **self._status(), "parameters": self.parameters()}
        loop_command: object = command
        if isinstance(command, Arm):
            self._index(command.rule)
        elif isinstance(command, SetParameter):
            loop_command = self._prepare_set(command)
        reply = self._mailbox.submit(loop_command).wait(self._timeout_s)
        if reply is None:
            return error_reply(
                f"the loop did not take the command within {self._timeout_s * 1000:.0f} ms "
                "(busy or stalled); nothing was changed"
            )
        if reply.get("ok") and isinstance(loop_command, ReplaceRule):
            self._configs[self._index(loop_command.rule)] = loop_command.new_config
        return reply

    def parameters(self) -> dict[str, dict[str, float]]:
        """Each rule's settable parameters (its numeric config fields) and current values."""
        return {
            name: _numeric_fields(config) for name, config in zip(self._names, self._configs, strict=True)
        }

    def _index(self, rule: str) -> int:
        if rule not in self._names:
            raise RequestError(f"no rule named {rule!r} (rules: {self._names})")
        return self._names.index(rule)

    def _prepare_set(self, command: SetParameter) -> ReplaceRule:
        index = self._index(command.rule)
        config = self._configs[index]
        settable = _numeric_fields(config)
        if command.parameter not in settable:
            raise RequestError(
                f"rule {command.rule!r} has no settable parameter {command.parameter!r} "
                f"(settable: {sorted(settable)})"
            )
        try:
            new_config = type(config).model_validate(
                {**config.model_dump(), command.parameter: command.value}
            )
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in error.errors())
            raise RequestError(f"rule {command.rule!r}: {problems}") from None
        new_rule = self._build_rule(index, new_config)
        value = getattr(new_config, command.parameter)
        return ReplaceRule(
            command.rule, command.parameter, settable[command.parameter], value, new_rule, new_config
        )


def _numeric_fields(config: BaseModel) -> dict[str, float]:
    values = {}
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = value
    return values
