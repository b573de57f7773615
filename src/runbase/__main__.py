"""``python -m runbase``: the command line."""

from runbase.cli import main

main()
