"""``python -m bitsim``: the command line (see ``bitsim.cli``)."""

import sys

from bitsim.cli import main

sys.exit(main())
