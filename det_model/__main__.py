"""`python -m det_model ...` (also the script `paddle.distributed.launch` runs per process)."""

import sys

from det_model.cli import main

if __name__ == "__main__":
    sys.exit(main())
