"""The flow language: YAML call flows, their checks, routing, and the interpreter."""

from .flowset import FlowSet, load_flows
from .interpreter import Execute, Exit, FlowRun
from .model import Flow, Step
from .validate import FlowProblems

__all__ = ["FlowSet", "load_flows", "Execute", "Exit", "FlowRun", "Flow", "Step", "FlowProblems"]
