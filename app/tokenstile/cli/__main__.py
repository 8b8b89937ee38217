"""``python -m tokenstile.cli``: the ``tokenstile`` command."""

import sys

from tokenstile.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
