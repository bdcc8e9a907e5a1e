"""``python -m ionworks`` runs the command line."""

from ionworks.cli import main

raise SystemExit(main())
