"""Command-line tools of the repository (not part of the ``anchorfree`` package). Importable
from the repository root as ``tools`` (e.g. ``python -m tools.benchmark``), where it shadows
the ``tools`` package that Detectron2 v0.6 installs."""
