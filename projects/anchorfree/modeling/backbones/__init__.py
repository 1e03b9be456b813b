"""
Detectron2 ``Backbone``s that output stride-4 feature maps for the heatmap detectors: ResNet
with an upsampling neck or with FPN P2 (:mod:`.resnet_stride4`), DLA-34 with CenterNet's
DLAUp/IDAUp neck (:mod:`.dla`), and Hourglass (:mod:`.hourglass`), built from LazyConfigs.
"""
