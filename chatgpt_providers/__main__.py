"""``python -m chatgpt_providers``: the command line."""

import sys

from .cli import main

sys.exit(main())
