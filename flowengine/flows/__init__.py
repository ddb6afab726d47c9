"""The flow language: YAML call flows, their steps, checks and routing (a call's run of a
flow is :mod:`flowengine.runtime`)."""

from .effects import Execute, Exit
from .flowset import FlowSet, load_flows
from .model import Flow, Step
from .validate import FlowProblems

__all__ = ["FlowSet", "load_flows", "Execute", "Exit", "Flow", "Step", "FlowProblems"]
