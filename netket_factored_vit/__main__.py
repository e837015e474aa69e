"""``python -m netket_factored_vit``: the main job (see ``--help``)."""

import sys

from netket_factored_vit._src.cli import main

sys.exit(main())
