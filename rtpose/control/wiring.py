"""Builds the control socket for a run: the handler, the server, and the loop's applier."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtpose.control.applier import ControlApplier
from rtpose.control.handler import ControlHandler
from rtpose.control.mailbox import Mailbox
from rtpose.control.server import ControlServer
from rtpose.core.config import RigConfig
from rtpose.loop.signals import StopRequest
from rtpose.triggers.rule_set import Rule, RuleSet, build_rule, feature_environment


def start_control(
    config: RigConfig,
    config_dir: Path,
    node_names: list[str],
    rules: RuleSet,
    stop: StopRequest,
    status: Callable[[], dict[str, Any]],
) -> tuple[ControlServer, ControlApplier]:
    """Bind the control socket (ConfigError if it cannot) and start serving; the caller sets the
    applier as the loop's ``between_frames`` and stops the server at the end of the run."""
    environment = feature_environment(config, node_names)

    def rebuild(index: int, rule_config: Any) -> Rule:
        return build_rule(index, rule_config, environment, config_dir)

    mailbox = Mailbox()
    handler = ControlHandler(
        mailbox, list(config.rules), rebuild, status, config.control.reply_timeout_ms / 1000
    )
    server = ControlServer(config.control, config_dir, handler)
    server.start()
    return server, ControlApplier(mailbox, rules, stop)


def status_snapshot(
    counters: Any, rules: RuleSet, output_names: list[str], output_states: Any, stop: StopRequest
) -> Callable[[], dict[str, Any]]:
    """A ``status`` source safe to call from the control thread: reads, never writes, and may be
    one frame stale."""

    def status() -> dict[str, Any]:
        return {
            "frames_processed": counters.frames_processed,
            "last_frame_id": counters.last_frame_id,
            "stopping": stop.reason,
            "rules": [
                {"name": name, "armed": bool(rules.armed[i]), "active": bool(rules.rule_active[i])}
                for i, name in enumerate(rules.names)
            ],
            "outputs": [{"name": name, "on": bool(output_states[i])} for i, name in enumerate(output_names)],
        }

    return status
