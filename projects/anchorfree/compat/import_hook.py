"""
Provide ``detectron2._C`` from pure PyTorch when the compiled extension is absent.

Detectron2 v0.6 imports its compiled extension at module level in ``layers/deform_conv.py``,
``layers/roi_align_rotated.py``, ``layers/rotated_boxes.py`` and ``evaluation/fast_eval_api.py``,
so without it ``import detectron2.layers`` (and with it most of Detectron2) fails. The finder
below is appended to the *end* of ``sys.meta_path``: Python's own path finder runs first and
returns a real compiled ``detectron2/_C*.so`` whenever one exists, so the stand-in
(:mod:`anchorfree/compat/detectron2_ext_standin.py`) is used only when nothing else provides
the module. To work in any import order, in a fresh interpreter, the finder is installed at
start-up by a ``.pth`` file (``python -m anchorfree.compat --write-pth``, run by
``make setup``) and also on ``import anchorfree``.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Optional, Sequence

EXTENSION_MODULE = "detectron2._C"
STANDIN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "detectron2_ext_standin.py")
PTH_NAME = "anchorfree_d2_detectron2_ext.pth"


class Detectron2ExtensionStandInFinder(importlib.abc.MetaPathFinder):
    """Finds ``detectron2._C`` in this project's stand-in file; consulted after all other
    finders."""

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]],
        target: Optional[ModuleType] = None,
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != EXTENSION_MODULE:
            return None
        return importlib.util.spec_from_file_location(fullname, STANDIN_PATH)


def install_detectron2_ext_standin() -> None:
    """Append the stand-in finder to ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(f, Detectron2ExtensionStandInFinder) for f in sys.meta_path):
        sys.meta_path.append(Detectron2ExtensionStandInFinder())


def is_standin_active() -> bool:
    """Whether the imported ``detectron2._C`` is this project's stand-in (imports it if needed)."""
    import detectron2._C as ext

    return os.path.abspath(getattr(ext, "__file__", "")) == STANDIN_PATH


def write_pth(site_packages: str) -> str:
    """Write the ``.pth`` file that installs the finder at interpreter start-up; returns its
    path."""
    path = os.path.join(site_packages, PTH_NAME)
    with open(path, "w") as f:
        # Lines of a .pth file that start with "import" are executed by the site module.
        f.write("import anchorfree\n")
    return path
