"""DVC stage entry points; run as `python -m stages.<name>` from the repository root."""

import sys
from pathlib import Path

# A queued `dvc exp run` executes in a copy of the repo under .dvc/tmp/exps; the editable install
# would import the library from the original checkout, so put this copy's src/ first.
_SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[:1] != [_SRC]:
    sys.path.insert(0, _SRC)
