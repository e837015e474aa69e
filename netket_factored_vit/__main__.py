"""``python -m netket_factored_vit {run,compare,analyze,plot}``: the command line (``--help``)."""

import sys

from netket_factored_vit._src.cli import main

sys.exit(main())
