"""Size of the browser snippet: raw source, minified, min+gzip, min+brotli.

Prints each figure next to the baseline recorded with the last build
(``snippet/size.json``) and the min+gzip budget (``snippet/package.json``), by running
``snippet/size.mjs`` (Node's zlib has brotli built in).

    python bench/snippet_size.py            the figures of the committed build
    python bench/snippet_size.py --rebuild  rebuild cartback.min.js first (npm run build)

Figures, not pass/fail: the exit status is 0 whenever the figures were printed, even
over budget (the test suite asserts the budget).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

SNIPPET = Path(__file__).resolve().parents[1] / "snippet"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rebuild", action="store_true", help="run `npm run build` in snippet/ first"
    )
    args = parser.parse_args(argv)
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        print("needs Node.js and npm (Debian: apt-get install -y nodejs npm)", file=sys.stderr)
        return 2
    if args.rebuild:
        if not (SNIPPET / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SNIPPET, check=True)
        subprocess.run([node, "build.mjs"], cwd=SNIPPET, check=True)
        subprocess.run([node, "size.mjs", "--record"], cwd=SNIPPET, check=False)
        return 0
    subprocess.run([node, "size.mjs"], cwd=SNIPPET, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
