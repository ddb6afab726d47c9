"""The HTTP servers of a flow test: each request answered from the case, no network.

A case's ``http:`` maps ``METHOD URL`` (or ``URL``) patterns to answers; a request no key
matches is the case's error. The format: docs/testing-flows.md, "HTTP answers".
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

from ..errors import FlowengineError
from ..flows.effects import HttpFailure, HttpRequest, HttpResult
from ..flows.model import seconds
from ..flows.steps.http import METHODS

ANSWER_KEYS = {"status", "json", "body", "content_type", "delay", "timeout", "error"}


class UnscriptedRequest(FlowengineError):
    """A request the case gives no answer for."""


def problems(answers: object) -> list[str]:
    """What is wrong with a case's ``http:`` (empty: nothing)."""
    if not isinstance(answers, dict):
        return ["http: must map 'METHOD URL' patterns to answers"]
    found = []
    for key, answer in answers.items():
        words = str(key).split(" ")
        if len(words) > 2 or (len(words) == 2 and words[0] not in METHODS):
            found.append(f"http: {key!r} is not 'METHOD URL' or 'URL' (methods: {', '.join(METHODS)})")
        if not isinstance(answer, dict):
            found.append(f"http: {key!r}: an answer is a mapping ({', '.join(sorted(ANSWER_KEYS))})")
            continue
        extra = sorted(set(answer) - ANSWER_KEYS)
        if extra:
            found.append(f"http: {key!r}: unknown key {extra[0]!r} (known: {', '.join(sorted(ANSWER_KEYS))})")
        if "json" in answer and "body" in answer:
            found.append(f"http: {key!r}: give json or body, not both")
        try:
            seconds(answer.get("delay"))
        except ValueError as exc:
            found.append(f"http: {key!r}: delay: {exc}")
    return found


class ScriptedHttp:
    def __init__(self, answers: dict | None = None) -> None:
        self.answers = dict(answers or {})
        self.asked: list[str] = []  # "METHOD url" of every request, as matched

    def matching(self, request: HttpRequest) -> dict | None:
        shown = request.masked(request.url)
        for key, answer in self.answers.items():
            method, _, pattern = str(key).rpartition(" ")
            if (not method or method == request.method) and fnmatchcase(shown, pattern):
                return answer
        return None

    def answer(self, request: HttpRequest) -> tuple[float, HttpResult]:
        shown = request.masked(f"{request.method} {request.url}")
        self.asked.append(shown)
        answer = self.matching(request)
        if answer is None:
            known = ", ".join(map(repr, self.answers)) or "none"
            raise UnscriptedRequest(
                f"step {request.step!r} sent {shown}, which no http: answer of the case matches (given: {known})"
            )
        return result(answer, request)


def result(answer: dict, request: HttpRequest) -> tuple[float, HttpResult]:
    """(delay, what the client would have given) for one scripted answer."""
    delay = seconds(answer.get("delay"), 0.0) or 0.0
    if answer.get("timeout") or delay >= request.timeout:
        return request.timeout, HttpResult.failed(
            HttpFailure.TIMEOUT, f"no complete response within {request.timeout:g} s", request.timeout
        )
    if answer.get("error"):
        reason = answer["error"] if isinstance(answer["error"], str) else "connection refused"
        return delay, HttpResult.failed(HttpFailure.ERROR, reason, delay)
    if "json" in answer:
        body, kind = json.dumps(answer["json"]).encode(), "application/json"
    else:
        body, kind = str(answer.get("body", "")).encode(), "text/plain; charset=utf-8"
    return delay, HttpResult(int(answer.get("status", 200)), body, str(answer.get("content_type", kind)), seconds=delay)
