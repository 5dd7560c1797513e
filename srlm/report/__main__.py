"""``python -m srlm.report``: see srlm.report.cli."""

import sys

from srlm.report.cli import main

if __name__ == "__main__":
    sys.exit(main())
