#!/usr/bin/env python3
"""flowengine: python run.py [test|simulate] … (see --help)."""

import sys

from flowengine.cli import main

if __name__ == "__main__":
    sys.exit(main())
