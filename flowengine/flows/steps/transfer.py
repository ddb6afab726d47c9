"""transfer: hand the call to the dialplan (``transfer``: extension [dialplan [context]]).

mod_dptools.c transfer_function reads ``-bleg`` / ``-both`` as options in the first word,
so that word may not start with ``-`` from the call; the flow ends here.
"""

from __future__ import annotations

from ...quoting import words
from ..effects import Execute, Exit
from .kind import Application, StepKind

SCHEMA = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["extension"],
            "properties": {
                "extension": {"type": "string"},
                "dialplan": {"type": "string"},
                "context": {"type": "string"},
            },
        },
    ]
}


def run(flow_run, step):
    spec = step.spec["transfer"]
    # the author's spaces split the words (before expansion); the call's may not
    parts = (
        spec.split() if isinstance(spec, str) else [spec[k] for k in ("extension", "dialplan", "context") if k in spec]
    )
    yield Execute("transfer", words([flow_run.expand(p) for p in parts], "transfer", no_flag=True))
    yield Exit("transfer")


KIND = StepKind(
    "transfer",
    SCHEMA,
    run,
    order=140,
    ends_flow=True,
    outcomes_doc="—",
    written='`transfer: "1000 XML default"` or `{extension, dialplan, context}`',
    does="hand the call to the dialplan; the flow ends",
    applications={"transfer": Application(hears="transferred to")},
)
