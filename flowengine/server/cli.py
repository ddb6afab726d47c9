"""``python run.py``: the server's command line."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent

from ..errors import FlowError
from ..esl import Limits
from ..flows import FlowProblems, load_flows
from ..flows.flowset import load_file
from ..http import HttpLimits
from ..http.supervisor import HttpSupervisor
from ..logs import configure as configure_logs
from ..originate.cli import read_key
from ..originate.pacing import Pacing
from ..preflight.hosts import HOSTS
from ..session import Timeouts
from ..session.recorder import Recorder
from .app import CallServer, install_signal_handlers
from .calls_api import Where, calls_routes
from .flow_map import flow_map_routes
from .guard import descriptor_limit, max_calls_for
from .library import UNPACK_SLICE, FlowLibrary, pauser, snapshot
from .metrics import Metrics
from .metrics_http import serve as serve_metrics
from .options import UNSIGNED_FAILOVER, allowed_networks, build_parser
from .workers import Supervisor, worker_command, worker_index


def check_flows(target: str, directory: str | None = None) -> int:
    """``--check``: every error, then every warning, in one run (as a compiler says them),
    and a count; 1 when there are errors. The YAML files that are not flows are named on
    stdout, so a file left alone is not mistaken for one checked."""
    try:
        flows = load_file(target, directory) if Path(target).is_file() else load_flows(target)
    except FlowError as exc:
        warnings = exc.warnings if isinstance(exc, FlowProblems) else []
        for problem in exc.problems + warnings:
            print(problem, file=sys.stderr)
        counted = f", {len(warnings)} warning(s)" if warnings else ""
        print(f"{len(exc.problems)} error(s){counted}", file=sys.stderr)
        return 1
    for warning in flows.warnings:
        print(warning, file=sys.stderr)
    print(f"{len(flows.flows)} flow(s) ok" + (f", {len(flows.warnings)} warning(s)" if flows.warnings else ""))
    for path in flows.skipped:
        print(f"{path}: not a flow (no steps: at its top level), not loaded")
    return 0


def tune_gc() -> None:
    """A call's objects are freed by reference counting when it ends (no reference loops),
    so the cyclic collector is only a safety net; left at its defaults it runs every 700
    allocations and, with a thousand calls up, a pass over the older generations stalls
    every call for tens of milliseconds. What is loaded at start (code, flows) is frozen
    out of its reach (a reload freezes the set it loads, :mod:`.library`), and it runs a
    tenth as often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.check:
        return check_flows(args.check, args.flows)
    if args.flows is None:
        args.flows = "flows"
    index = worker_index()
    # until the reload handler is in place, a SIGHUP (systemctl reload right after start)
    # must not kill the server, which is SIGHUP's default action
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    configure_logs(args.log_level, args.log_format, f"w{index} " if index is not None else "")
    log = logging.getLogger("flowengine.server")
    seen = snapshot(args.flows)
    try:
        flows = load_flows(args.flows)
    except FlowError as exc:
        problems = exc.problems
        for problem in problems:
            log.error("%s", problem)
        log.error(
            "not serving: %d problem(s) in %s (see python3 run.py --check %s)", len(problems), args.flows, args.flows
        )
        return 2
    for warning in flows.warnings:
        log.warning("%s", warning)
    if not flows.flows and not args.allow_empty:
        log.error(
            "not serving: no flow files in %s, so every call would be refused "
            "(--allow-empty starts anyway, to add flows and reload)",
            args.flows,
        )
        return 2
    for option, value in (("--max-calls", args.max_calls), ("--max-calls-per-peer", args.max_calls_per_peer)):
        if value is not None and value < 1:
            log.error("%s wants 1 or more, not %d", option, value)
            return 2
    allow, note = allowed_networks(args.listen, args.allow)
    if note is not None and index is None:
        log.warning("%s", note)
    limit = descriptor_limit()
    fits = max_calls_for(limit, 2 if args.record else 1) if limit is not None else None
    if args.max_calls is not None and fits is not None and args.max_calls > fits and index is None:
        log.warning(
            "--max-calls %d is more than the descriptor limit (ulimit -n %d) leaves room for (%d): past "
            "that, connections wait unaccepted; raise the limit (LimitNOFILE=) or lower --max-calls",
            args.max_calls,
            limit,
            fits,
        )
    key = None
    if args.failover_key:
        try:
            key = Path(args.failover_key).read_bytes().strip()
        except OSError as exc:
            log.error("--failover-key: cannot read %s: %s", args.failover_key, exc.strerror)
            return 2
        if len(key) < 16 or not args.failover:
            log.error(
                "--failover-key: %s",
                "needs --failover"
                if not args.failover
                else f"{args.failover_key} holds {len(key)} bytes; give at least 16 "
                "(e.g. head -c 32 /dev/urandom | base64)",
            )
            return 2
    elif args.failover and index is None:
        log.warning("%s", UNSIGNED_FAILOVER)
    try:
        originate_key, calls_api = originate_setup(args, index)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    if args.workers > 1 and index is None:
        if args.listen[1] == 0:
            log.error("--workers needs a fixed --listen port")
            return 2
        log.info("flows ok; starting %d workers on %s:%d", args.workers, *args.listen)
        return Supervisor(worker_command(), args.workers).run()
    log.info("loaded %d flow(s) from %s", len(flows.flows), args.flows)
    metrics = Metrics() if args.metrics else None
    library = FlowLibrary(args.flows, flows, seen=seen)
    if metrics is not None:
        metrics.flows_loaded(flows)
        library.on_reload = _reported(metrics, library)
        HOSTS.on_report = metrics.preflight_report
    server = CallServer(
        args.listen,
        flows=lambda: library.current,
        allow=allow,
        drain_seconds=args.drain_seconds,
        max_calls=args.max_calls,
        limits=Limits(max_body_bytes=args.max_body_bytes),
        timeouts=Timeouts(drain=args.drain_timeout),
        event_format=args.event_format,
        recorder=Recorder(args.record) if args.record else None,
        metrics=metrics,
        reuse_port=index is not None,
        buffered_bytes=args.max_buffered_bytes,
        failover=args.failover,
        failover_key=key,
        originate_key=originate_key,
        max_calls_per_peer=args.max_calls_per_peer,
        http=HttpSupervisor(
            HttpLimits(per_host=args.http_max_per_host, total=args.http_max_requests),
            ca_file=args.http_ca,
            metrics=metrics,
            log_level=args.log_level,
            log_format=args.log_format,
            log_tag=f"w{index} " if index is not None else "",
        ),
    )
    install_signal_handlers(server)
    gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(library.reload))
    if library.changed():  # edited (and maybe SIGHUP, ignored till now) while we started
        library.reload()
    if args.watch:
        library.watch(args.watch_interval)
    if index is not None:
        _stop_with_parent(server)
    tune_gc()
    web = None
    try:
        if metrics is not None:
            host, port = args.metrics
            pages = flow_map_routes(
                library, metrics, HOSTS.reports, server, worker=index, workers=args.workers, base=(host, port)
            )
            if calls_api is not None:
                try:
                    pages.update(calls_api(library, metrics, server.flow_calls.step_of))
                except ValueError as exc:
                    log.error("%s", exc)
                    return 2
            web = serve_metrics(metrics, (host, port + (index or 0)), server.healthy, HOSTS.reports, routes=pages)
        server.serve_until_stopped()
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        return 2
    finally:
        if web is not None:  # after the drain, during which /healthz says 503
            web.close()
    return 0


def originate_setup(args: Any, index: int | None) -> tuple[bytes | None, Callable[..., dict] | None]:
    """``--originate-key`` read, and what serves ``/calls`` (None: not asked for, or a worker
    other than the first: with ``--workers`` only worker 0's metrics port takes calls, so
    pacing counts every queued call once). ValueError: an operator's message."""
    key = read_key(args.originate_key, "--originate-key") if args.originate_key else None
    if not args.calls_api_token:
        return key, None
    missing = [
        option
        for option, value in (
            ("--metrics", args.metrics),
            ("--originate-key", key),
            ("--originate-allow", args.originate_allow),
            ("--originate-freeswitch", args.originate_freeswitch),
            ("--originate-engine", args.originate_engine),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"--calls-api-token needs {', '.join(missing)} (docs/originate.md)")
    if index not in (None, 0):
        return key, None
    pacing = Pacing(
        rate=args.originate_rate,
        at_once=args.originate_at_once,
        flow_rate=args.originate_flow_rate,
        flow_at_once=args.originate_flow_at_once,
        retries=args.originate_retries,
        retry_delay=args.originate_retry_delay,
        max_call=args.originate_max_call,
    )
    assert key is not None

    def routes(library: FlowLibrary, metrics: Metrics | None, where: Where | None = None) -> dict:
        return calls_routes(
            args.calls_api_token,
            tuple(args.originate_allow),
            args.originate_freeswitch,
            args.originate_password,
            args.originate_engine,
            key,
            pacing,
            flows=lambda: library.current,
            metrics=metrics,
            where=where,
            workers=args.workers,
        )

    return key, routes


def _reported(metrics: Metrics, library: FlowLibrary) -> Callable[[bool], None]:
    """After each reload: counted, and the new set's series and identity in the metrics."""

    def reloaded(ok: bool) -> None:
        metrics.reload(ok)
        if ok:
            metrics.flows_loaded(library.current, pause=pauser(UNPACK_SLICE))

    return reloaded


def _stop_with_parent(server: CallServer) -> None:
    """A worker whose supervisor died (killed outright) drains and exits, never lingers."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            gevent.sleep(1.0)
        server.stop()

    gevent.spawn(watch)
