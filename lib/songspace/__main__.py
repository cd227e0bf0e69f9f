"""``python -m songspace ...`` is the ``songspace`` command."""
import sys

from songspace.cli import main

sys.exit(main())
