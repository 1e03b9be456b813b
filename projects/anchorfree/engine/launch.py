"""``launch``: Detectron2's, plus the CPU (GLOO) fallback that v0.6 lacks (see
:mod:`anchorfree.compat.cpu_launch`)."""

from anchorfree.compat.cpu_launch import launch

__all__ = ["launch"]
