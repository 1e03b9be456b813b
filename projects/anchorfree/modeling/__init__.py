"""
Modeling pieces shared by the heatmap detectors (CenterNet and CornerNet): Gaussian heatmap
targets, the penalty-reduced focal loss, peak extraction, and the stride-4 backbones
(:mod:`.backbones`). Import the submodules directly; this package imports nothing heavy.
"""
