"""``python -m ldm3d_core.training STAGE --config FILE``: the entry ``accelerate launch -m`` runs."""

import sys

from .cli import main

sys.exit(main())
