"""The server's options: ``python run.py --help``, and what they mean for who may connect.

Kept apart from :mod:`.cli` (which starts the server from them) so the option table can be
read, tested and documented (docs/command-line.md lists every option) on its own.
"""

from __future__ import annotations

import argparse

from ..commandline import commands_help, parse_listen, program
from ..esl import Limits
from ..http import HttpLimits
from ..originate.bounds import number
from ..session import Timeouts
from .app import parse_networks
from .evented import DEFAULT_BUDGET_BYTES
from .guard import ANY, LOOPBACK, is_loopback

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
    _originate_options(p.add_argument_group("calls started from flowengine (docs/originate.md)"))
    return p


def _originate_options(g: argparse._ArgumentGroup) -> None:
    """What routes a call ``run.py originate`` or ``POST /calls`` started, and what the API may dial."""
    g.add_argument(
        "--originate-key",
        metavar="FILE",
        default=None,
        help="route calls started by 'run.py originate' or POST /calls by their token signed with the key in "
        "FILE (at least 16 bytes, the same file they use); without it every call routes by its number",
    )
    g.add_argument(
        "--calls-api-token",
        metavar="FILE",
        default=None,
        help="serve POST /calls and GET /calls/<id> on the metrics port to requests carrying the bearer token "
        "in FILE (needs --metrics, --originate-key, --originate-allow, --originate-freeswitch, --originate-engine)",
    )
    g.add_argument(
        "--originate-allow",
        action="append",
        default=[],
        metavar="PREFIX",
        help="a dial-string prefix POST /calls may dial, the rest being a number (repeatable), e.g. "
        "sofia/gateway/pstn/",
    )
    g.add_argument(
        "--originate-freeswitch",
        type=parse_listen,
        default=None,
        metavar="HOST:PORT",
        help="FreeSWITCH's event socket the API originates through",
    )
    g.add_argument("--originate-password", default="ClueCon", metavar="PASSWORD", help="its password (default ClueCon)")
    g.add_argument(
        "--originate-engine",
        type=parse_listen,
        default=None,
        metavar="HOST:PORT",
        help="this engine's call socket as FreeSWITCH reaches it (the started calls' socket)",
    )
    g.add_argument(
        "--originate-rate",
        type=number("--originate-rate", least=0, above=True),
        default=1.0,
        metavar="N",
        help="calls started a second (default 1)",
    )
    g.add_argument(
        "--originate-at-once",
        type=number("--originate-at-once", least=1, integer=True),
        default=10,
        metavar="N",
        help="calls ringing or in their flow at once (default 10)",
    )
    g.add_argument(
        "--originate-flow-rate",
        type=number("--originate-flow-rate", least=0, above=True),
        default=None,
        metavar="N",
        help="calls started a second, per flow",
    )
    g.add_argument(
        "--originate-flow-at-once",
        type=number("--originate-flow-at-once", least=1, integer=True),
        default=None,
        metavar="N",
        help="calls at once, per flow",
    )
    g.add_argument(
        "--originate-retries",
        type=number("--originate-retries", least=0, integer=True),
        default=0,
        metavar="N",
        help="tries again after busy or no answer, at most N times (default 0)",
    )
    g.add_argument(
        "--originate-retry-delay",
        type=number("--originate-retry-delay", least=0),
        default=60.0,
        metavar="S",
        help="seconds before a retry (default 60)",
    )
    g.add_argument(
        "--originate-max-call",
        type=number("--originate-max-call", least=0, above=True),
        default=4 * 3600.0,
        metavar="S",
        help="the longest an answered call keeps its place: then it is hung up (default 14400)",
    )
