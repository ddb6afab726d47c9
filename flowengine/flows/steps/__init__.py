"""The step kinds, one module each, found by name: every module here that holds a ``KIND``.

Adding a kind is its module (see :mod:`.kind`) and its tests; the schema file and the step
pages under ``docs/steps/`` are generated from the kinds (``python -m
flowengine.flows.generate``) and tests fail when they disagree. Nothing outside this package
names a kind: what a kind is to the run, a checkpoint or the metrics is its ``KIND``'s data.
"""

from __future__ import annotations

import importlib
import pkgutil

from .kind import Application, CalledFlow, Need, NeedKind, Problems, StepKind, Transition


def _discover() -> tuple[dict[str, StepKind], dict[str, str]]:
    found: list[StepKind] = []
    modules: dict[str, str] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if isinstance(kind, StepKind):
            found.append(kind)
            modules[kind.name] = info.name
    found.sort(key=lambda k: (k.order, k.name))
    return {k.name: k for k in found}, modules


#: every step kind by name, in the docs' order; and the module (in this package) of each
KINDS, MODULES = _discover()
#: every key that makes a step of some kind -> that kind's name
KEYS: dict[str, str] = {key: kind.name for kind in KINDS.values() for key in kind.keys}
#: every FreeSWITCH application a kind declares -> how the scripted FreeSWITCH plays it
APPLICATIONS: dict[str, Application] = {app: a for kind in KINDS.values() for app, a in kind.applications.items()}

__all__ = [
    "APPLICATIONS",
    "KEYS",
    "KINDS",
    "MODULES",
    "Application",
    "CalledFlow",
    "Need",
    "NeedKind",
    "Problems",
    "StepKind",
    "Transition",
]
