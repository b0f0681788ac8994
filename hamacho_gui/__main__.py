import sys

from hamacho_gui.app import main

sys.exit(main())
