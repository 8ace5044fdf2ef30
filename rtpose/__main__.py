import sys

from rtpose.cli import main

sys.exit(main())
