import sys

from lgmpose.cli import main

sys.exit(main())
