"""``python -m cartback``: the ``cartback`` command (see ``cartback._cli``)."""

from cartback._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
