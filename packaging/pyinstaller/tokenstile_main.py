"""Entry script of the bundled ``tokenstile`` program (PyInstaller runs this file)."""

import multiprocessing
import sys

from tokenstile.cli.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
