"""The TCP server FreeSWITCH's ``socket`` application connects to."""

from .app import CallServer, Handler, parse_networks

__all__ = ["CallServer", "Handler", "parse_networks"]
