"""
anchorfree-d2: FCOS, CenterNet and CornerNet as Detectron2 meta-architectures.

Importing this package installs the stand-in for Detectron2's compiled extension when (and only
when) the real ``detectron2._C`` is missing; see :mod:`anchorfree.compat.import_hook`. It imports
nothing heavy, because a ``.pth`` file may import it at interpreter start-up.
"""

from .compat.import_hook import install_detectron2_ext_standin

install_detectron2_ext_standin()

__version__ = "0.1.0"
