"""Every value that reaches FreeSWITCH is encoded here, for the exact place it lands.

One encoder per place (:func:`app_arg`, :func:`target` (its blocks' variables:
:func:`variable_problems`, :mod:`.blocks`), :func:`variable_value`,
:func:`word`, :func:`path`, :func:`name`, :func:`speak_arg`, :func:`stored_value` (a
channel variable's value, :mod:`.variables` for those FreeSWITCH runs), :func:`url.url`,
:func:`api.setvar_args`); a control character from the call is a space wherever it may
stand (:func:`without_controls`); values carry which characters came from the call
(:class:`Text`) and a plain ``str`` counts as call data. What cannot be made safe raises
:class:`~flowengine.errors.UnsafeValue` before a byte is written (docs/security.md).
"""

from .dialstring import target, variable_problems, variable_value, whole
from .expansion import app_arg, passes_for
from .paths import path
from .speech import speak_arg
from .stored import stored_value
from .text import Span, Text, data, join, literal, without_controls
from .words import name, word, words

__all__ = [
    "Span",
    "Text",
    "app_arg",
    "data",
    "join",
    "literal",
    "name",
    "passes_for",
    "path",
    "speak_arg",
    "stored_value",
    "target",
    "variable_problems",
    "variable_value",
    "whole",
    "without_controls",
    "word",
    "words",
]
