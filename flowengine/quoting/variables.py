"""Channel variables FreeSWITCH later runs or reads as a path: what their value may take
from the call.

Setting a variable stores text; some names make FreeSWITCH act on that text later, long
after the step that set it, whoever set it (the ``set`` / ``export`` / ``push`` /
``unshift`` applications, ``api uuid_setvar``):

- it **runs** it as an API (``cmd arg``) or an application (``app arg`` / ``app:arg``):
  ``api_hangup_hook`` and ``api_reporting_hook`` (src/switch_core_state_machine.c,
  ``api_hook``, which also expands the argument again), every variable whose name starts
  ``api_on_`` or ``execute_on_`` (src/switch_channel.c, ``switch_channel_api_on`` /
  ``switch_channel_execute_on``: a case-insensitive prefix match over all the channel's
  variables, arrays element by element — ``execute_on_answer_2`` runs too),
  ``api_after_bridge`` / ``api_before_bridge``, ``exec_after_bridge_app`` /
  ``exec_after_bridge_arg``, ``bridge_pre_execute_*`` (src/switch_ivr_bridge.c),
  ``record_post_process_exec_app`` (a prefix too, switch_channel_execute_on) / ``_api``
  (src/switch_ivr_async.c, record_callback),
  ``group_confirm_file`` with ``group_confirm_key=exec`` (src/switch_ivr_originate.c), and
  ``session_in_hangup_hook``, which hands the hook the session;
- it **routes** by it: ``transfer_after_bridge`` / ``transfer_after_early_bridge`` and
  ``transfer_on_fail`` (an extension, dialplan and context: src/switch_ivr_bridge.c,
  src/switch_channel.c ``switch_channel_handle_cause``), ``force_transfer_dialplan`` /
  ``force_transfer_context`` (src/switch_ivr.c, ``switch_ivr_session_transfer``: every later
  transfer goes there — the ``inline`` dialplan runs the extension as applications).

The names are in src/include/switch_types.h (``SWITCH_*_VARIABLE``). A value the call helped
to write is refused for any of them: no encoding makes call data safe inside a command line
FreeSWITCH splits and runs. The name is compared as FreeSWITCH does (case-insensitively),
after ``export``'s ``nolocal:`` / ``_nolocal_`` prefix (switch_channel.c,
``switch_channel_export_variable_var_check``), which sets it on the other leg only.

Variables FreeSWITCH reads as a **path**: ``sound_prefix`` is put before every relative file
it plays (src/switch_ivr_play_say.c ``switch_ivr_play_file``, src/switch_ivr_async.c
``switch_ivr_displace_session``), and ``hold_music``, ``temp_hold_music``, ``ringback`` and
``transfer_ringback`` are played (switch_ivr_originate.c, switch_ivr_bridge.c): call data in
them follows the rules of a path (:func:`.paths.path`: a name inside the author's folder).
"""

from __future__ import annotations

from ..errors import UnsafeValue
from .paths import path
from .text import untrusted_mask

#: names FreeSWITCH runs or routes by, exactly (lower case)
RUN_NAMES = frozenset(
    {
        "api_hangup_hook",
        "api_reporting_hook",
        "session_in_hangup_hook",
        "api_after_bridge",
        "api_before_bridge",
        "exec_after_bridge_app",
        "exec_after_bridge_arg",
        "record_post_process_exec_api",
        "group_confirm_file",
        "group_confirm_key",
    }
)
ROUTE_NAMES = frozenset(
    {
        "transfer_after_bridge",
        "transfer_after_early_bridge",
        "transfer_on_fail",
        "force_transfer_dialplan",
        "force_transfer_context",
    }
)
#: name prefixes FreeSWITCH matches every variable against (lower case)
RUN_PREFIXES = ("api_on_", "execute_on_", "bridge_pre_execute_", "record_post_process_exec_app")
#: variables FreeSWITCH reads as a folder or a file to play
PATH_NAMES = frozenset({"sound_prefix", "hold_music", "temp_hold_music", "ringback", "transfer_ringback"})
_EXPORT_PREFIXES = ("nolocal:", "_nolocal_")


def effective_name(name: str) -> str:
    """The variable FreeSWITCH sets for ``name``: lower case, without ``export``'s
    ``nolocal:`` / ``_nolocal_`` prefix."""
    lowered = str(name).strip().lower()
    for prefix in _EXPORT_PREFIXES:
        if lowered.startswith(prefix):
            return lowered[len(prefix) :]
    return lowered


def runs(name: str) -> str | None:
    """What FreeSWITCH does with the value of ``name``: ``"runs"`` (an API or an
    application), ``"routes"`` (a dialplan or an extension), ``"path"``; None: it is data."""
    key = effective_name(name)
    if key in RUN_NAMES or key.startswith(RUN_PREFIXES):
        return "runs"
    if key in ROUTE_NAMES:
        return "routes"
    if key in PATH_NAMES:
        return "path"
    return None


def variable_check(name: str, value_has_call_data: bool) -> str | None:
    """Why a value that can hold call data may not be set in ``name`` (an operator's
    message), or None when it may (a path variable still has its value checked on the call,
    :func:`checked_value`). For ``--check``, which knows only whether the value names call data."""
    if not value_has_call_data:
        return None
    what = runs(name)
    if what == "runs":
        return (
            f"FreeSWITCH runs the value of {name} as a command (an API or an application, "
            "src/switch_channel.c switch_channel_execute_on / api_on, switch_core_state_machine.c api_hook): "
            "the call would choose what it runs and its arguments; set it to the flow's own text"
        )
    if what == "routes":
        return (
            f"FreeSWITCH routes the call by the value of {name} (a dialplan, extension or context; the "
            "inline dialplan runs the extension as applications): set it to the flow's own text"
        )
    return None


def checked_value(name: str, value: str, what: str) -> str:
    """``value`` for ``name`` when the call's part of it may stand there; else
    :class:`~flowengine.errors.UnsafeValue` (see the module). ``value`` is a
    :class:`~.text.Text` (a plain str is all call data)."""
    mask = untrusted_mask(value)
    source = next((m for m in mask if m is not None), None)
    why = variable_check(name, source is not None)
    if why is not None:
        raise UnsafeValue(f"{what}: the value of {source} would be set in {name}: {why}")
    if source is not None and runs(name) == "path":
        path(value, f"{what} ({name}, a folder or file FreeSWITCH plays from)")
    return value
