"""``python3 run.py preflight --freeswitch HOST:8021``: the flows checked against a running
FreeSWITCH on demand (a deploy pipeline's step), over inbound Event Socket.

The same planner as the server's (:mod:`.plan`), driven over one inbound connection: each
batch of questions in one write, the next once it is answered. Exit 0 when the host has
everything the flows need, 1 when it lacks something (each problem on its own line, as
``file:line:col: step 'name': what is missing and what a caller would get``), 2 when the
check could not run (no connection, the password refused, flows that do not load).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..commandline import parse_listen, program
from ..errors import FlowError
from ..flows import load_flows
from .inbound import InboundClient, InboundError
from .needs import set_needs
from .plan import BATCH, Plan, in_step


def _address(text: str) -> tuple[str, int]:
    try:
        host, port = parse_listen(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"--freeswitch wants HOST:PORT (the event socket, 8021), not {text!r}"
        ) from None
    return (host if host != "0.0.0.0" else "127.0.0.1"), port


def preflight_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog=program("preflight"),
        description=(
            "Check the flows against a running FreeSWITCH over its event socket: every prompt file "
            "(relative ones under --sound-prefix and each language's), record folder, application "
            "(execute), say language and TTS engine they need. Exit 1 when the host lacks one, 2 when "
            "the check cannot run."
        ),
    )
    p.add_argument(
        "--freeswitch",
        type=_address,
        required=True,
        metavar="HOST:PORT",
        help="FreeSWITCH's event socket (mod_event_socket, usually port 8021)",
    )
    p.add_argument("--password", default="ClueCon", help="the event socket's password (default ClueCon)")
    p.add_argument("--flows", default="flows", metavar="DIR", help="the flows to check (default flows)")
    p.add_argument(
        "--sound-prefix",
        metavar="PATH",
        default=None,
        help="where relative prompts are (the calls' sound_prefix, e.g. "
        "/usr/share/freeswitch/sounds/en/us/callie); they are also checked under the sound_prefix of "
        "each language a flow declares; without it, only under those",
    )
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for each answer")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    try:
        flows = load_flows(args.flows)
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    plan = Plan(set_needs(flows), args.sound_prefix)
    if args.sound_prefix is not None and plan.sound_prefix is None:
        print(f"error: --sound-prefix {args.sound_prefix!r} is not a plain absolute path", file=sys.stderr)
        return 2
    fs_host, fs_port = args.freeswitch
    host = f"{fs_host}:{fs_port}"
    try:
        with InboundClient(fs_host, fs_port, args.password, timeout=args.timeout) as client:
            while not plan.done:
                queries = plan.take(BATCH)
                for query, body in zip(queries, client.ask(queries), strict=True):
                    plan.answered(query, body)
    except InboundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = plan.problems()
    unanswered = plan.unanswered()
    if args.json:
        print(
            json.dumps(
                {
                    "host": host,
                    "problems": [pr.as_json() for pr in problems],
                    "skipped": [{"where": loc.where, "value": loc.need.value, "why": why} for loc, why in plan.skipped],
                    "unchecked": plan.over_cap + len(unanswered),
                },
                indent=1,
            )
        )
    else:
        for problem in problems:
            print(problem.line(host))
        for located, why in plan.skipped:
            print(
                f"{located.where}: {in_step(located.step)}not checked: {located.need.value!r}: {why}", file=sys.stderr
            )
        for located in unanswered:
            print(
                f"{located.where}: {in_step(located.step)}not checked: {located.need.value!r}: "
                "the host's answer said neither yes nor no",
                file=sys.stderr,
            )
        checked = len(plan.checks) - len(unanswered)
        print(
            f"preflight of {host}: {len(problems)} problem(s) in {checked} need(s) checked"
            + (f", {len(plan.skipped)} not checkable" if plan.skipped else "")
            + (f", {plan.over_cap} over the limit of {plan.max_queries} questions" if plan.over_cap else "")
        )
    return 1 if problems else 0
