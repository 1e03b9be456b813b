"""Shared set-up of the test folders (which mirror the package): tests/ on ``sys.path``, so that
every test module can import the shared helpers (``detector_testing``), and the repository root,
for ``tools``. Slow tests (over-fits, multi-process and end-to-end runs) carry the ``slow``
marker registered in setup.cfg: ``make test-quick`` leaves them out."""

import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
# The repository root, so that ``tools`` is this repository's (Detectron2 v0.6 installs a
# ``tools`` package of its own into site-packages).
REPO = os.path.dirname(TESTS)
if REPO not in sys.path:
    sys.path.insert(0, REPO)
