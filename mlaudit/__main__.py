"""Allow ``python -m mlaudit``."""

from mlaudit.cli import main

if __name__ == "__main__":
    main()
