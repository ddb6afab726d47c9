"""Every value that reaches FreeSWITCH is encoded here, for the exact place it lands.

- :func:`app_arg`: any application argument (FreeSWITCH expands ``${…}`` in all of them);
- :func:`target` / :func:`variable_value`: a dial string's target and a ``{…}``/``[…]``
  variable value (``bridge``);
- :func:`word` / :func:`words`: space-separated argument positions (``play_and_get_digits``,
  ``record``, ``say``, ``transfer``);
- :func:`path`: a file name (prompts, recordings);
- :func:`name`: a queue, conference room or PIN, call data only as letters and digits;
- :func:`speak_arg`: ``speak``'s ``engine|voice|text``, the text unable to change either.
- :func:`url.url`: an ``http`` step's URL (:mod:`.url`: call data only in the path and query);
- :func:`api.setvar_args`: a ``set`` made by ``api uuid_setvar`` (:mod:`.api`: the value
  exactly, or None and the ``set`` application makes it).

Values carry which characters came from the call (:class:`Text`); a plain ``str`` counts as
call data throughout. What cannot be made safe raises
:class:`~flowengine.errors.UnsafeValue` before a byte is written: the step then takes the
flow's ``on_error`` (or the call ends with NORMAL_TEMPORARY_FAILURE).
"""

from .dialstring import target, variable_value, whole
from .expansion import app_arg, passes_for
from .speech import speak_arg
from .text import Span, Text, data, join, literal
from .words import name, path, word, words

__all__ = ["Span", "Text", "app_arg", "data", "join", "literal", "name", "passes_for", "path", "speak_arg", "target",
           "variable_value", "whole", "word", "words"]
