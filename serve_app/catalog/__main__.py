import sys

from serve_app.catalog.cli import main

if __name__ == "__main__":
    sys.exit(main())
