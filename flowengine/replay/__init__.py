"""Recorded Event Socket sessions and a FreeSWITCH that replays them."""

from .transcript import Record, Transcript

__all__ = ["Record", "Transcript"]
