"""
Modeling pieces shared by the heatmap detectors (CenterNet and CornerNet): Gaussian heatmap
targets, the penalty-reduced focal loss, peak extraction, soft-NMS, and the stride-4 backbones
(:mod:`.backbones`); and by all three detectors: test-time augmentation
(:mod:`.test_time_augmentation`) and the graph-safe operations (:mod:`.graph_ops`). Import the
submodules directly; this package imports nothing heavy.
"""
