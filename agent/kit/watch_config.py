"""The configuration of a watcher beside a profile's network (``rehearse kit
watch-config``): the nodes, their Compose project and the watcher's own files, so
``deploy/compose/docker-compose-watch.yml`` watches the network a profile made
without anyone copying ports or a project name by hand. Pure: text out."""

from __future__ import annotations

import json

from agent.config import Config

__all__ = ["watch_config"]


def _s(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def watch_config(
    cfg: Config, state_dir: str = "/var/lib/rehearse", metrics_port: int = 9464
) -> str:
    """``rehearse watch``'s config for ``cfg``'s network. Paths are absolute (a
    container mounts its config read-only, so relative ones would point there);
    the metrics endpoint binds the loopback of the host network the watcher runs in."""
    lines = [
        "# rehearse watch beside the network of a profile (rehearse kit watch-config).",
        "[stack]",
        "# The Compose project whose container events are watched.",
        f"project = {_s(cfg.stack.project)}",
        "",
        "[chain]",
        "# The node the chain is read from (its REST, when it serves one).",
        f"tx_node = {_s(cfg.chain.tx_node)}",
        "",
        "[agent]",
        f"state_dir = {_s(state_dir)}",
        f"log_file = {_s(state_dir + '/agent.log')}",
        f"report_json = {_s(state_dir + '/report.json')}",
        f"report_md = {_s(state_dir + '/report.md')}",
        "",
        "[watch]",
        f"heartbeat_file = {_s(state_dir + '/heartbeat.json')}",
        f"alert_state_file = {_s(state_dir + '/alerts.json')}",
        "",
        "[metrics]",
        "enabled = true",
        'host = "127.0.0.1"',
        f"port = {metrics_port}",
    ]
    for n in cfg.nodes:
        lines += ["", "[[nodes]]", f"name = {_s(n.name)}", f"service = {_s(n.service or n.name)}",
                  f"rpc = {_s(n.rpc)}"]  # fmt: skip
        if n.rest:
            lines.append(f"rest = {_s(n.rest)}")
    lines += [
        "",
        "# Alert sinks: the log sink is always on. Add yours, e.g.",
        "# [[alerts.sinks]]",
        '# type = "webhook"',
        '# url = "http://127.0.0.1:8080/hook"',
    ]
    return "\n".join(lines) + "\n"
