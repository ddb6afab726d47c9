"""flowengine: declarative call flows (IVR) for FreeSWITCH over the outbound Event Socket."""

__version__ = "0.1.0"
