"""
Compatibility layer between this project and the Detectron2 versions it supports
(v0.6 from the package registry, with no compiled ops, and builds of the GitHub source).

Every fix here activates only where it is needed, and never shadows a real Detectron2 feature.
This module imports nothing heavy: :mod:`anchorfree` imports it at interpreter start-up.
"""
