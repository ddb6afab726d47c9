"""``python -m flowengine``: the same as ``python run.py``."""

import sys

from .cli import main

sys.exit(main())
