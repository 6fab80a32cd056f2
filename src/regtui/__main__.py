"""Allow `python -m regtui`."""

from regtui.cli import main

raise SystemExit(main())
