#!/usr/bin/env python3
"""flowengine's entry point: ``python run.py --listen 0.0.0.0:9000``."""

import sys

from flowengine.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
