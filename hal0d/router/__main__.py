import sys

from hal0d.router.main import main

sys.exit(main())
