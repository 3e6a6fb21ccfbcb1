"""Watchdog and alerts: detectors, alert manager, sinks, metrics, heartbeat.

Pure detectors decide which conditions hold; the alert manager turns them into
FIRING/RESOLVED notifications exactly once (persisted across restarts); sinks
deliver them; metrics and a heartbeat expose the daemon's health.

How the daemon uses it (one task group, as everything else)::

    ws = parse_watch_settings(raw_toml, base_dir)          # ConfigError on bad keys
    dog = Watchdog([n.name for n in cfg.nodes], ws.watch.thresholds,
                   services={n.service: n.name for n in cfg.nodes})
    metrics = WatchMetrics()                                 # its own CollectorRegistry
    async with httpx.AsyncClient() as client:
        alerts = AlertManager(FileAlertStore(ws.watch.alert_state_file),
                              build_sinks(ws.sinks, client), clock, for_s=ws.watch.for_s)
        await alerts.load()                                  # firing set + outbox
        if ws.metrics.enabled:
            # chain gauges are read from the dog at each scrape
            metrics.attach(dog, clock.wall, phase=lambda: state.phase.value,
                           alerts_firing=lambda: len(alerts.firing))
            server = MetricsServer(metrics.registry, ws.metrics.host, ws.metrics.port)
            await tg.start(server.serve)
        heartbeat = Heartbeat(ws.watch.heartbeat_file)

    # in the observer, for every observation (NewBlock, StreamStatus,
    # ContainerEvent, and NodeInfo from polling abci_info):
        dog.observe(obs); metrics.observe(obs)
    # whenever the rehearsal state changes (upgrade height, times, status):
        dog.set_context(UpgradeContext(name, state.upgrade_height,
                        state.predicted_upgrade_time, state.voting_end, status, "v2"))
    # before a planned compose down/up:
        dog.expect_downtime(until=clock.wall() + restart_timeout)
    # every watch.evaluate_interval_s:
        now = clock.wall()
        for n in await alerts.update(dog.evaluate(now), now):
            metrics.observe(n)                               # rehearse_alerts_fired_total
    # every watch.heartbeat_interval_s:
        await heartbeat.beat(phase, len(alerts.firing))

A supervisor checks liveness with ``check_heartbeat(path, max_age_s)``. The
``[watch]``, ``[metrics]`` and ``[[alerts.sinks]]`` TOML sections are documented
in ``config-snippet.toml`` next to this file.
"""

from __future__ import annotations

from agent.config.watch import (
    MetricsSettings,
    SinkSettings,
    WatchSettings,
    WatchTuning,
    parse_watch_settings,
)
from agent.core.detectors import DETECTORS, Condition, Thresholds, UpgradeContext, Watchdog
from agent.watchdog.alerts import (
    AlertManager,
    AlertStore,
    AlertStoreCorrupt,
    FileAlertStore,
    MemoryAlertStore,
    Notification,
    Sink,
)
from agent.watchdog.heartbeat import Heartbeat, HeartbeatStatus, check_heartbeat
from agent.watchdog.metrics import MetricsServer, WatchMetrics
from agent.watchdog.observations import NodeInfo, WatchObservation
from agent.watchdog.sinks import (
    CommandSink,
    DiscordSink,
    SlackSink,
    WebhookSink,
    build_sinks,
    redact_url,
)

__all__ = [
    "DETECTORS",
    "AlertManager",
    "AlertStore",
    "AlertStoreCorrupt",
    "CommandSink",
    "Condition",
    "DiscordSink",
    "FileAlertStore",
    "Heartbeat",
    "HeartbeatStatus",
    "MemoryAlertStore",
    "MetricsServer",
    "MetricsSettings",
    "NodeInfo",
    "Notification",
    "Sink",
    "SinkSettings",
    "SlackSink",
    "Thresholds",
    "UpgradeContext",
    "WatchMetrics",
    "WatchObservation",
    "WatchSettings",
    "WatchTuning",
    "Watchdog",
    "WebhookSink",
    "build_sinks",
    "check_heartbeat",
    "parse_watch_settings",
    "redact_url",
]
