"""python -m wct"""

import sys

from .cli import main

sys.exit(main())
