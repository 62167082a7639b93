"""``python -m switchboard``: the command line (see ``switchboard.cli``)."""
import sys

from .cli import main

sys.exit(main())
