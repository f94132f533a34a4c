import sys

from layerlab.cli import main

sys.exit(main())
