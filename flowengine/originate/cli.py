"""``python3 run.py originate``: start one call into a flow and report how it went.

Over inbound Event Socket (as ``run.py preflight`` connects): ``bgapi originate`` whose
application is the engine's socket, the flow and its variables in one signed token
(:mod:`flowengine.runtime.call_token`, the engine's ``--originate-key``); then the
BACKGROUND_JOB (answered, or FreeSWITCH's cause) and the channel's CHANNEL_HANGUP_COMPLETE
(the flow's result). Exit 0: answered and the flow ran to its end; 1: not answered or the
flow did not end well (the cause printed); 2: usage or connection error.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..commandline import parse_listen, program
from ..errors import FlowError, UnsafeValue
from ..esl import Event, Reply
from ..flows import load_flows
from ..flows.model import seconds
from ..runtime import call_token
from .bounds import number
from .control import Control, ControlError, Dial
from .line import caller_id, dial_string, originate_arg, socket_app
from .params import params_problems

#: how long after the ring timeout a token is still honoured (the engine's clock may differ)
TOKEN_SLACK = 60.0
MIN_KEY = 16


def _address(what: str, default_host: str) -> Callable[[str], tuple[str, int]]:
    def parse(text: str) -> tuple[str, int]:
        try:
            host, port = parse_listen(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"{what} wants HOST:PORT, not {text!r}") from None
        return (host if host != "0.0.0.0" else default_host), port

    return parse


def _var(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not call_token.NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"--var wants NAME=VALUE (NAME: letters, digits, _), not {text[:60]!r}")
    return name, value


def _seconds(text: str) -> float:
    try:
        value = seconds(text, 0.0)
    except Exception:  # noqa: BLE001 - the flow language's own message is about flows
        value = 0.0
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"--timeout wants 1s to 10m (30, 30s, 2m), not {text!r}")
    return value


def read_key(path: str, option: str = "--key-file") -> bytes:
    """The originate key in ``path`` (the engine's ``--originate-key``), at least 16 bytes;
    ValueError naming ``option`` when it cannot be used."""
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"{option}: cannot read {path}: {exc.strerror}") from None
    if len(key) < MIN_KEY:
        raise ValueError(
            f"{option}: {path} holds {len(key)} bytes; give at least {MIN_KEY} (e.g. head -c 32 /dev/urandom | base64)"
        )
    return key


def check_flow(directory: str, name: str, values: dict[str, str]) -> None:
    """ValueError unless ``name`` is among the flows in ``directory`` and takes ``values``."""
    try:
        flows = load_flows(directory)
    except FlowError as exc:
        raise ValueError(f"--flows {directory}: {exc}") from None
    flow = flows.flows.get(name)
    if flow is None:
        raise ValueError(f"--flow {name}: no such flow in {directory}")
    problems = params_problems(flow, values)
    if problems:
        raise ValueError("; ".join(problems))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=program("originate"),
        description="Start a call into a flow: FreeSWITCH dials --to and connects the answered call to the "
        "engine, which runs --flow with the --var values. Exit 0: answered and the flow ran to its end; "
        "1: not answered or the flow failed; 2: usage or connection error.",
    )
    p.add_argument(
        "--freeswitch",
        type=_address("--freeswitch", "127.0.0.1"),
        required=True,
        metavar="HOST:PORT",
        help="FreeSWITCH's event socket (mod_event_socket, usually port 8021)",
    )
    p.add_argument("--password", default="ClueCon", help="the event socket's password (default ClueCon)")
    p.add_argument("--to", required=True, metavar="DIAL", help="the dial string, e.g. sofia/gateway/pstn/15551234567")
    p.add_argument("--flow", required=True, help="the flow the call runs (loaded on the engine)")
    p.add_argument(
        "--var",
        type=_var,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable of the flow (repeatable); any characters: it travels in the signed token",
    )
    p.add_argument("--caller-id", default=None, metavar='"NAME <NUMBER>"', help="the caller ID the callee sees")
    p.add_argument("--timeout", type=_seconds, default=30.0, metavar="S", help="how long it rings (default 30s)")
    p.add_argument(
        "--engine",
        type=_address("--engine", "127.0.0.1"),
        required=True,
        metavar="HOST:PORT",
        help="the engine's call socket as FreeSWITCH reaches it",
    )
    p.add_argument("--key-file", required=True, metavar="FILE", help="the engine's --originate-key file")
    p.add_argument(
        "--flows",
        default=None,
        metavar="DIR",
        help="check --flow and its --var values against the flows here (its params:) before dialling",
    )
    p.add_argument(
        "--max-call",
        type=number("--max-call", least=0, above=True),
        default=3600.0,
        metavar="S",
        help="the longest the answered call is followed (default 3600)",
    )
    p.add_argument(
        "--connect-timeout",
        type=number("--connect-timeout", least=0, above=True),
        default=5.0,
        metavar="S",
        help=argparse.SUPPRESS,
    )
    return p


def originate_command(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        if args.flows is not None:
            check_flow(args.flows, args.flow, dict(args.var))
        key = read_key(args.key_file)
        dial = Dial()
        arg = originate_arg(
            dial_string(args.to),
            dial.uuid,
            call_token.VARIABLE,
            call_token.issue(key, args.flow, dict(args.var), dial.uuid, time.time() + args.timeout + TOKEN_SLACK),
            caller_id(args.caller_id),
            args.timeout,
            socket_app(*args.engine),
        )
    except (ValueError, UnsafeValue) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host, port = args.freeswitch
    where = f"FreeSWITCH at {host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=args.connect_timeout) as sock:
            control = Control(sock, where=where)
            control.login(args.password, args.connect_timeout)
            follow(control, dial, arg, args.timeout + args.max_call)
            try:
                control.send(dial.release() + b"exit\n\n")
            except ControlError:
                pass
    except (OSError, ControlError) as exc:
        print(
            f"error: {exc if isinstance(exc, ControlError) else f'cannot connect to {where}: {exc}'}", file=sys.stderr
        )
        return 2
    print(f"{dial.uuid}: {dial.summary()}")
    return 0 if dial.completed else 1


def follow(control: Control, dial: Dial, arg: str, limit: float) -> None:
    """Send the originate and read until the call is over (or ``limit`` seconds)."""
    control.send(dial.request(arg))
    deadline = time.monotonic() + limit
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ControlError(f"the call was not over within {limit:g} s (call {dial.uuid})")
        for message in control.receive(left):
            if isinstance(message, Reply) and not message.ok:
                raise ControlError(f"{control.where} refused a command: {message.text.strip()}")
            if isinstance(message, Event) and dial.feed(message):
                return


if __name__ == "__main__":
    sys.exit(originate_command(sys.argv[1:]))
