#!/usr/bin/env python3
"""flowengine: python run.py [test|simulate|graph] … (see --help)."""

import signal
import sys

# A SIGHUP (a reload) that comes while the server is still starting must not end it, which
# is SIGHUP's default action; the server installs its reload handler once it is ready.
signal.signal(signal.SIGHUP, signal.SIG_IGN)

from flowengine.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
