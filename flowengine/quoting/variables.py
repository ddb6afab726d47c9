"""Channel variables FreeSWITCH later runs or reads as a path: what their value may take
from the call.

A variable FreeSWITCH later runs or routes by (``api_hangup_hook``, ``execute_on_*``,
``transfer_on_fail`` …) takes no call data, its name compared as FreeSWITCH compares it; one
it plays from (``sound_prefix``, ``hold_music`` …) takes call data as a path
(:func:`.paths.path`). The names, with FreeSWITCH's source: docs/freeswitch.md, "Variables
FreeSWITCH runs, routes by or plays".
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
        # switch_ivr_bridge.c audio_bridge_thread: copied into the other leg's transfer_after_bridge
        "hold_hangup_xfer_exten",
        # mod_fifo.c fifo_function: switch_ivr_session_transfer(orbit_exten, orbit_dialplan, orbit_context)
        "fifo_orbit_exten",
        "fifo_orbit_dialplan",
        "fifo_orbit_context",
        # mod_dptools.c audio_bridge_function (campon): switch_ivr_session_transfer(fallback …)
        "campon_fallback_exten",
        "campon_fallback_dialplan",
        "campon_fallback_context",
        # mod_sofia: the proxy the INVITE goes through (sofia_glue.c sofia_glue_do_invite), and
        # the address it is sent to
        "sip_route_uri",
        "sip_network_destination",
        # sofia.c: a 3xx the leg answers is followed by switch_ivr_session_transfer(contact
        # user, sip_redirect_dialplan, sip_redirect_context)
        "sip_redirect_dialplan",
        "sip_redirect_context",
    }
)
#: names whose value lists other variables FreeSWITCH copies to the new leg
#: (switch_ivr_originate.c / switch_core_session.c: export_vars, bridge_export_vars)
COPY_NAMES = frozenset({"export_vars", "bridge_export_vars"})
#: name prefixes FreeSWITCH matches every variable against (lower case)
RUN_PREFIXES = ("api_on_", "execute_on_", "bridge_pre_execute_", "record_post_process_exec_app")
#: variables FreeSWITCH reads as a folder or a file to play (fifo_chime_list: files split at
#: ',', mod_fifo.c fifo_function; conference_*_sound: mod_conference conference_file_play)
PATH_NAMES = frozenset(
    {
        "sound_prefix",
        "hold_music",
        "temp_hold_music",
        "ringback",
        "transfer_ringback",
        "campon_hold_music",
        "conference_enter_sound",
        "conference_exit_sound",
        "fifo_chime_list",
        "fifo_orbit_announce",
        "fifo_outbound_announce",
    }
)
_EXPORT_PREFIXES = ("nolocal:", "_nolocal_")


def effective_name(name: str) -> str:
    """The variable FreeSWITCH sets for ``name``: lower case, without ``export``'s
    ``nolocal:`` / ``_nolocal_`` prefixes, however many (each hop may strip one:
    switch_channel.c switch_channel_export_variable_var_check strips it when exporting,
    switch_ivr_originate.c strips it again when copying ``export_vars`` to the new leg)."""
    lowered = str(name).strip().lower()
    stripped = True
    while stripped:
        stripped = False
        for prefix in _EXPORT_PREFIXES:
            if lowered.startswith(prefix):
                lowered = lowered[len(prefix) :].strip()
                stripped = True
    return lowered


def runs(name: str) -> str | None:
    """What FreeSWITCH does with the value of ``name``: ``"runs"`` (an API or an
    application), ``"routes"`` (a dialplan, an extension, a context or where SIP sends the
    call), ``"copies"`` (names of variables copied to the new leg), ``"path"``; None: it is data."""
    key = effective_name(name)
    if key in RUN_NAMES or key.startswith(RUN_PREFIXES):
        return "runs"
    if key in ROUTE_NAMES:
        return "routes"
    if key in COPY_NAMES:
        return "copies"
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
            "inline dialplan runs the extension as applications; SIP sends the call to the host it "
            "names): set it to the flow's own text"
        )
    if what == "copies":
        return (
            f"FreeSWITCH copies the variables the value of {name} names to the new leg "
            "(switch_ivr_originate.c, export_vars): the call would choose which of this channel's "
            "variables the other leg gets, hooks included; set it to the flow's own text"
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
