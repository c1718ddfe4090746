"""``python -m cartback``: the ``cartback`` command (see ``cartback._cli``)."""

from cartback._cli import main

raise SystemExit(main())
