"""``python run.py``: the server's command line."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import gevent

from ..commandline import commands_help, parse_listen, program
from ..errors import FlowError
from ..esl import Limits
from ..flows import FlowProblems, load_flows
from ..flows.flowset import load_file
from ..http import HttpLimits
from ..http.supervisor import HttpSupervisor
from ..logs import configure as configure_logs
from ..preflight.hosts import HOSTS
from ..session import Timeouts
from ..session.recorder import Recorder
from .app import CallServer, install_signal_handlers, parse_networks
from .evented import DEFAULT_BUDGET_BYTES
from .guard import ANY, LOOPBACK, descriptor_limit, is_loopback, max_calls_for
from .library import UNPACK_SLICE, FlowLibrary, pauser, snapshot
from .metrics import Metrics
from .metrics_http import serve as serve_metrics
from .workers import Supervisor, worker_command, worker_index

#: said at start with --failover and no --failover-key
UNSIGNED_FAILOVER = (
    "--failover without --failover-key: checkpoints are not signed, so whoever can set the call's "
    "flowengine_resume channel variable (a dialplan that sets variables from the caller, uuid_setvar, a "
    "peer allowed to pose as FreeSWITCH) can have a call resumed at any step of the flow its number "
    "routes to (and the flows it calls), with flow variables of their choosing as call data: a step meant "
    "to be reached only through an earlier one (a PIN check) can be skipped. Give every host the same "
    "--failover-key FILE (at least 16 bytes) to resume only checkpoints signed for that call"
)


def parse_metrics(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT``, or ``:PORT`` / ``PORT``: on loopback (127.0.0.1).
    Every interface only when asked for by name (``0.0.0.0:PORT``, ``[::]:PORT``)."""
    if text.isdigit():
        text = ":" + text
    try:
        host, port = parse_listen(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--metrics wants [HOST:]PORT, not {text!r}") from None
    return ("127.0.0.1" if not text.rpartition(":")[0].strip("[]") else host), port


def _network(text: str):
    """A CIDR or address; ``any``: every peer (both families)."""
    if text.strip().lower() == "any":
        return "any"
    try:
        return parse_networks([text])[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--allow wants an address, a CIDR or 'any': {exc}") from None


def allowed_networks(listen: tuple[str, int], allow: list) -> tuple[list, str | None]:
    """The peers the call port takes, and the line to log at start about it (None: nothing
    to say). Without ``--allow`` the peers on this machine only (protected mode, as Redis
    has): a peer elsewhere must be named, or ``--allow any`` given, since whoever reaches
    the port can pose as FreeSWITCH."""
    if "any" in allow:
        note = (
            None
            if is_loopback(listen[0])
            else (
                f"--allow any: every peer that reaches port {listen[1]} is taken for FreeSWITCH (it can pose as "
                "one, and run the flows); firewall the port, or name FreeSWITCH's addresses with --allow CIDR"
            )
        )
        return list(ANY), note
    if allow:
        return list(allow), None
    note = (
        None
        if is_loopback(listen[0])
        else (
            f"protected mode: no --allow is given, so only peers on this machine (loopback) may connect to "
            f"{listen[0]}:{listen[1]}, others are refused; name FreeSWITCH's addresses with --allow CIDR "
            "(repeatable), or give --allow any to take every peer"
        )
    )
    return list(LOOPBACK), note


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=program(),
        description=(
            "flowengine: the server FreeSWITCH's dialplan hands calls to with "
            "<action application=\"socket\" data=\"HOST:PORT async full\"/>."
        ),
        epilog=commands_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--listen",
        type=parse_listen,
        default=("127.0.0.1", 9000),
        metavar="HOST:PORT",
        help="address to accept FreeSWITCH's connections on (default 127.0.0.1:9000)",
    )
    p.add_argument(
        "--record",
        metavar="DIR",
        help="write every call's transcript to DIR/<date>/<uuid>.jsonl (replayable in flow tests)",
    )
    p.add_argument(
        "--allow",
        type=_network,
        action="append",
        default=[],
        metavar="CIDR",
        help="accept connections only from this network (repeatable); others are closed "
        "before a byte is read. 'any': every peer. Default: loopback peers only (a --listen "
        "beyond loopback needs --allow with FreeSWITCH's addresses, or --allow any)",
    )
    p.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="on SIGTERM/SIGINT, let calls in progress run this long before hanging them up "
        "(default 30; a second signal hangs up at once)",
    )
    p.add_argument(
        "--failover",
        action="store_true",
        help="keep a checkpoint of each call on its channel and resume calls another host "
        "left (the dialplan lists the hosts' sockets in turn); on SIGTERM, after "
        "--drain-seconds, hand the calls still running to the next host instead of "
        "hanging them up (needs 'socket … async full')",
    )
    p.add_argument(
        "--failover-key",
        metavar="FILE",
        default=None,
        help="with --failover: sign each checkpoint with the key in FILE (the same on every "
        "host, at least 16 bytes) and resume only checkpoints signed with it for that call",
    )
    p.add_argument(
        "--max-calls",
        type=int,
        default=None,
        metavar="N",
        help="calls handled at once; a connection past them is closed at once, unless one that has "
        "not answered 'connect' gives way: the oldest of the address holding the most such (of "
        "the newcomer's own address only once it has waited 2 s). Default: what the descriptor "
        "limit (ulimit -n) leaves after 96 kept for the rest, one per call, two with --record",
    )
    p.add_argument(
        "--max-calls-per-peer",
        type=int,
        default=None,
        metavar="N",
        help="calls one peer address may hold at once (those not yet answering 'connect' too); past "
        "them its connection is closed at once, unless its own oldest that has not answered for 2 s "
        "gives way. Default: all of --max-calls when --allow names one address, else all but an "
        "eighth, so that no one address takes every place",
    )
    p.add_argument(
        "--flows",
        default=None,
        metavar="DIR",
        help="directory of YAML flows (default ./flows); the server does not start if any has errors",
    )
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="start even when --flows holds no flow (calls are refused until a reload adds one)",
    )
    p.add_argument(
        "--check",
        metavar="DIR|FILE",
        help="check the flows in DIR (or one FILE and the flows it calls, found in --flows or the "
        "file's directory), print every problem, and exit (1 on errors)",
    )
    p.add_argument(
        "--event-format",
        choices=("plain", "json", "xml"),
        default="plain",
        help="format FreeSWITCH sends events in (default plain, the fastest to read)",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=Timeouts.drain,
        metavar="S",
        help="after a hangup, how long to read the call's last events (default 5)",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=Limits.max_body_bytes,
        metavar="N",
        help="largest message body accepted from FreeSWITCH (default 16 MiB, FreeSWITCH's own cap)",
    )
    p.add_argument(
        "--max-buffered-bytes",
        type=int,
        default=DEFAULT_BUDGET_BYTES,
        metavar="N",
        help="unparsed input all calls of a process may hold together; the read that would pass "
        "it ends the calls that hold the most (the reader only if it would hold the most; "
        "default 64 MiB)",
    )
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.add_argument(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="text lines (default) or one JSON object per line with call, flow, step, outcome, ms",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="reload the flows when a file under --flows changes (SIGHUP always reloads)",
    )
    p.add_argument(
        "--watch-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="how often --watch looks for changes (default 1 s)",
    )
    p.add_argument(
        "--metrics",
        type=parse_metrics,
        default=None,
        metavar="[HOST:]PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics, a health check on /healthz and "
        "/preflight (with --workers, worker i uses PORT+i). HOST defaults to 127.0.0.1; "
        "0.0.0.0:PORT for every interface",
    )
    p.add_argument(
        "--http-ca", metavar="FILE", default=None, help="CA certificates (PEM) http steps trust instead of the system's"
    )
    p.add_argument(
        "--http-max-requests",
        type=int,
        default=HttpLimits.total,
        metavar="N",
        help=f"http requests in flight at once in all (default {HttpLimits.total})",
    )
    p.add_argument(
        "--http-max-per-host",
        type=int,
        default=HttpLimits.per_host,
        metavar="N",
        help=f"http requests in flight at once to one host (default {HttpLimits.per_host})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N server processes sharing the port (SO_REUSEPORT), supervised and restarted when one dies (default 1)",
    )
    return p


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
            web = serve_metrics(metrics, (host, port + (index or 0)), server.healthy, HOSTS.reports)
        server.serve_until_stopped()
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        return 2
    finally:
        if web is not None:  # after the drain, during which /healthz says 503
            web.close()
    return 0


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
