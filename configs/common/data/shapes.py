# The embedded synthetic dataset (anchorfree.data.synthetic_shapes), generated on first use.
# Images are 256-320 px a side and are used at their own size.
from omegaconf import OmegaConf

from anchorfree.data import CheckedDatasetMapper, load_detection_dataset_dicts
from anchorfree.engine.evaluation import SanitizedCOCOEvaluator

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.data import build_detection_test_loader, build_detection_train_loader

dataloader = OmegaConf.create()

dataloader.train = L(build_detection_train_loader)(
    dataset=L(load_detection_dataset_dicts)(names="anchorfree_shapes_train"),
    mapper=L(CheckedDatasetMapper)(
        is_train=True,
        augmentations=[L(T.RandomFlip)(horizontal=True)],
        image_format="BGR",
    ),
    total_batch_size=4,
    num_workers=1,
)

dataloader.test = L(build_detection_test_loader)(
    dataset=L(load_detection_dataset_dicts)(names="anchorfree_shapes_val", filter_empty=False),
    mapper=L(CheckedDatasetMapper)(
        is_train=False, augmentations=[], image_format="${...train.mapper.image_format}"
    ),
    num_workers=1,
)

dataloader.evaluator = L(SanitizedCOCOEvaluator)(dataset_name="${..test.dataset.names}")
