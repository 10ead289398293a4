"""``python -m advdemo``: the same command line as ``advdemo``."""

import sys

from advdemo.cli.commands import main

sys.exit(main())
