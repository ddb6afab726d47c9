"""``python -m flowengine``: the same as ``python run.py``."""

import signal
import sys

signal.signal(signal.SIGHUP, signal.SIG_IGN)  # see run.py: a reload during start-up must not end it

from .cli import main  # noqa: E402

sys.exit(main(prog="python -m flowengine"))
