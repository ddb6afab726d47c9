"""http: ask another system mid-call (look a caller up, tell a CRM), without blocking a call.

The step yields an :class:`~flowengine.flows.effects.HttpRequest`; the driver performs it
(the server: :mod:`flowengine.http.client`; flow tests: the case's ``http:`` answers) and
resumes the step with the result. What a response holds is the call's data
(:mod:`flowengine.flows.steps.http_answer`); call data goes only where
:mod:`flowengine.quoting.url` and :func:`_text_body` let it. Outcomes, variables, ``save:`` and
``${env.NAME}``: docs/http.md; the URL's rules: docs/security.md, "An HTTP step's URL".
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import urlencode

from ...errors import FlowError, UnsafeValue
from ...quoting import data, literal
from ...quoting.text import untrusted_mask
from ...quoting.url import SCHEMES, authority_end, header_value
from ...quoting.url import url as encoded_url
from ..effects import HoldPrompt, HttpRequest, HttpResult
from ..model import duration, is_pattern, seconds
from ..templates import expand
from .common import matching_key, prompt_arg
from .http_answer import MAX_SAVES, NAME, PATH, ReadResult, SavingRequest, Unreadable, body_text, saved
from .kind import StepKind

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
OUTCOMES = ("ok", "failed", "timeout", "error")
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 30.0
MAX_RETRIES = 3
_ENV = re.compile(r"\$\{env\.([A-Za-z_][A-Za-z0-9_]*)\}")
_STATUS = re.compile(r"^[1-5][0-9][0-9]$")
#: the one Content-Type a ``body:`` with call data may have
PLAIN = "text/plain"

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "method": {"enum": list(METHODS), "description": "GET (default), POST, PUT, PATCH or DELETE."},
        "url": {
            "type": "string",
            "minLength": 1,
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
            "description": "http(s)://host/path?query; ${name} only in the path and the query.",
        },
        "headers": {
            "type": "object",
            "maxProperties": 50,
            "additionalProperties": {"$ref": "#/$defs/scalar"},
            "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$"},
            "description": "Request headers; ${env.NAME} for secrets.",
        },
        "json": {"description": "A JSON body; ${name} in its string values."},
        "form": {
            "type": "object",
            "additionalProperties": {"$ref": "#/$defs/scalar"},
            "description": "A form body (application/x-www-form-urlencoded).",
        },
        "body": {"type": "string", "description": "A text body (text/plain unless a Content-Type header says)."},
        "timeout": {
            "$ref": "#/$defs/duration",
            "description": "The whole request, retries included (default 5s, at most 30s).",
        },
        "retries": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_RETRIES,
            "description": "Retries of GET, PUT and DELETE on a failed connection or a 502/503/504.",
        },
        "save": {
            "type": "object",
            "maxProperties": MAX_SAVES,
            "propertyNames": {"pattern": NAME.pattern},
            "additionalProperties": {"type": "string", "pattern": PATH.pattern},
            "description": "Flow variable -> path in the JSON response (customer.tier, items.0.id).",
        },
        "while_waiting": {
            "type": "object",
            "additionalProperties": False,
            "required": ["after", "play"],
            "properties": {"after": {"$ref": "#/$defs/duration"}, "play": {"type": "string", "minLength": 1}},
            "description": "Play this once the request has taken `after`; stopped when it answers.",
        },
    },
}


def _env_lookup(flow_run, secrets: list[str]):
    def lookup(name: str):
        if name.startswith("env."):
            value = os.environ.get(name[4:])
            if value is None:
                raise FlowError(f"the environment variable {name[4:]} is not set on this server")
            secrets.append(value)
            return literal(value)  # the operator's, trusted; masked wherever it could show
        return flow_run.lookup(name)

    return lookup


def _json_body(value, fill):
    if isinstance(value, str):
        return str(fill(value))
    if isinstance(value, dict):
        return {str(k): _json_body(v, fill) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_body(v, fill) for v in value]
    return value


def _given_type(headers) -> str | None:
    """The media type a Content-Type header (of the author's) names, lower case, or None."""
    given = next((str(v) for k, v in headers if str(k).lower() == "content-type"), None)
    return None if given is None else given.split(";", 1)[0].strip().lower()


def _text_body(text: str, headers) -> bytes:
    """``body:`` as sent. Nothing encodes raw text, so call data may be in it only as plain
    text (no Content-Type header, or ``text/plain``): under JSON, XML or a form, a caller name
    ``x", "role": "admin`` would add a field. Elsewhere it is refused; ``json:`` and ``form:``
    encode call data by their format."""
    kind = _given_type(headers)
    if kind not in (None, PLAIN):
        source = next((m for m in untrusted_mask(text) if m is not None), None)
        if source is not None:
            raise UnsafeValue(
                f"body: the value of {source} in a body of type {kind} is not encoded and could add to "
                "its structure; use json: or form:, which encode call data (body: takes it only "
                "as text/plain)"
            )
    return str(text).encode()


def request(flow_run, step) -> HttpRequest:
    """The step's request, every value encoded for where it lands. A refusal's message
    never holds a secret: it is masked like a log line."""
    secrets: list[str] = []
    try:
        return _request(flow_run, step, secrets)
    except UnsafeValue as exc:
        masked = HttpRequest("GET", "", secrets=tuple(secrets)).masked(str(exc))
        raise UnsafeValue(masked) from None


def _request(flow_run, step, secrets: list[str]) -> HttpRequest:
    spec = step.spec["http"]
    lookup = _env_lookup(flow_run, secrets)
    fill = lambda value: expand(value, lookup)  # noqa: E731
    headers = [(str(k), header_value(fill(v), f"header {k}")) for k, v in (spec.get("headers") or {}).items()]
    body, content_type = None, None
    if "json" in spec:
        body, content_type = json.dumps(_json_body(spec["json"], fill)).encode(), "application/json"
    elif "form" in spec:
        form = {str(k): str(fill(v)) for k, v in spec["form"].items()}
        body, content_type = urlencode(form).encode(), "application/x-www-form-urlencoded"
    elif "body" in spec:
        body, content_type = _text_body(fill(spec["body"]), headers), "text/plain; charset=utf-8"
    if content_type and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", content_type))
    hold = None
    if "while_waiting" in spec:
        hold = HoldPrompt(duration(spec["while_waiting"]["after"]), prompt_arg(flow_run, spec["while_waiting"]["play"]))
    return SavingRequest(
        spec.get("method", "GET"),
        encoded_url(fill(spec["url"])),
        tuple(headers),
        body,
        min(seconds(spec.get("timeout"), DEFAULT_TIMEOUT), MAX_TIMEOUT),
        int(spec.get("retries", 0)),
        hold,
        tuple(dict.fromkeys(secrets)),
        flow_run.flow.name,
        step.name,
        tuple((str(k), str(v)) for k, v in (spec.get("save") or {}).items()),
    )


def run(flow_run, step):
    result = yield request(flow_run, step)
    return outcome(flow_run, step, result)


def outcome(flow_run, step, result: HttpResult) -> str:
    """Set the step's variables from ``result`` and say which outcome it is."""
    variables = flow_run.vars
    variables["http_status"] = str(result.status) if result.status is not None else ""
    variables["http_error"] = result.reason
    variables["http_body"] = body_text(result.body, result.content_type)
    if result.failure is not None:
        return result.failure.value
    status = str(result.status)
    ok = 200 <= (result.status or 0) < 300
    if ok and step.spec["http"].get("save"):
        try:
            variables.update(_saved(result, step.spec["http"]["save"], f"the response to {step.name}"))
        except Unreadable as exc:
            variables["http_error"] = str(exc)
            return "error"
    key = matching_key([k for k in step.on if k not in OUTCOMES], status)
    return key or ("ok" if ok else "failed")


def _saved(result: HttpResult, save: dict[str, str], source: str) -> dict[str, str]:
    """The values ``save`` names, each marked as the call's data: as the performer read
    them (a :class:`ReadResult`: the server's HTTP worker, or its in-process client), else
    read here from the whole body (a driver that hands it back: flow tests, the simulator)."""
    if not isinstance(result, ReadResult):
        return saved(result.body, save, source)
    if result.unreadable:
        raise Unreadable(result.unreadable)
    found = dict(result.saved)
    missing = [name for name in save if name not in found]
    if missing:
        raise Unreadable(f"the answer was read without {missing[0]!r}")
    return {name: data(found[name], source) for name in save}


def check(step, problems) -> None:
    spec = step.spec["http"]
    url = spec["url"]
    end = authority_end(url)
    authority = url[url.find("://") + 3 : end]
    if url.split("://", 1)[0].lower() not in SCHEMES or not authority or "${" in authority.replace("${env.", ""):
        problems.error(
            ("http", "url"),
            "the URL's scheme and host must be written out (http:// or https://, "
            "a host, ${env.NAME} at most): call data may fill only the path and the query",
        )
    if sum(k in spec for k in ("json", "form", "body")) > 1:
        problems.error(("http",), "give one body: json, form or body")
    kind = _given_type((spec.get("headers") or {}).items())
    if "${" in str(spec.get("body", "")).replace("${env.", "") and kind not in (None, PLAIN):
        problems.warning(
            ("http", "body"),
            f"a ${{…}} in body: under Content-Type {kind}: call data there is "
            "refused when the call runs (it could add fields); use json: or form:, which encode it",
        )
    if any(k in spec for k in ("json", "form", "body")) and spec.get("method", "GET") == "GET":
        problems.warning(("http", "method"), "a GET with a body: many servers ignore it (use POST)")
    if "timeout" in spec:
        try:
            if (seconds(spec["timeout"]) or 0) > MAX_TIMEOUT:
                problems.error(("http", "timeout"), f"at most {MAX_TIMEOUT:g}s: a caller waits through it")
            elif seconds(spec["timeout"]) == 0:
                problems.error(("http", "timeout"), "a timeout of 0 never lets a request answer")
        except ValueError:
            pass  # the duration's own check reports it
    if "while_waiting" in spec:
        try:
            after = seconds(spec["while_waiting"]["after"]) or 0.0
            if after >= min(seconds(spec.get("timeout"), DEFAULT_TIMEOUT) or 0.0, MAX_TIMEOUT):
                problems.warning(
                    ("http", "while_waiting", "after"), "not shorter than the timeout: the prompt never plays"
                )
        except ValueError:
            pass
    if spec.get("retries") and spec.get("method", "GET") in ("POST", "PATCH"):
        problems.warning(("http", "retries"), f"{spec['method']} is never retried (it is not idempotent)")
    for name in sorted(set(_ENV.findall(json.dumps(spec)))):
        if name not in os.environ:
            problems.warning(
                ("http",),
                f"${{env.{name}}} is not set in this environment: the step fails (on_error) where it is not set either",
            )
    for key in step.on:
        if is_pattern(key):
            problems.pattern(key[1:-1], ("on", key))


def _accepts(key: str) -> bool:
    return bool(_STATUS.match(key)) or is_pattern(key)


KIND = StepKind(
    "http",
    SCHEMA,
    run,
    order=175,
    outcomes=OUTCOMES,
    accepts=_accepts,
    check=check,
    makes_requests=True,
    sets=lambda step: ("http_status", "http_body", "http_error") + tuple(step.spec["http"].get("save") or ()),
    written="`http: {method, url, headers, json, form, body, timeout, retries, save, while_waiting}`",
    does="an HTTP request; `${http_status}`, `${http_body}`, `${http_error}`; `save:` JSON values into flow variables",
    outcomes_doc="an exact status (`\"404\"`) or `/pattern/`, else `ok` (2xx), `failed` (any other "
    "status); `timeout`, `error`",
)
