import sys

from repconv.cli import main

sys.exit(main())
