import sys

from hal0d.cli.daemon import main

sys.exit(main())
