"""Entry point: ``python -m client`` (installed as ``tinymlp``)."""

import sys

from client.cli import main

sys.exit(main())
