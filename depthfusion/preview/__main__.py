"""``python -m depthfusion.preview``: the preview command on its own."""

import sys

from .command import main

sys.exit(main())
