"""``python -m depthfusion`` = the ``depthfusion`` command."""

import sys

from .cli import main

sys.exit(main())
