"""`python -m segnet`: the same as the `segnet` command."""

import sys

from .cli.main import main

sys.exit(main())
