"""The user's own COCO data in a config: ``ROLE=PATH.json:IMAGE_DIR`` specs, their registration,
and the ``datasets`` section that points a config at them and sets its class count."""

import os

import pytest
from coco_testing import write_user_coco

import anchorfree  # noqa: F401
import anchorfree.data  # noqa: F401
from anchorfree.config import load_config
from anchorfree.config.datasets import dataset_override
from anchorfree.data import DatasetSpec, parse_dataset_spec, register_coco_dataset

from detectron2.data import DatasetCatalog, MetadataCatalog

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FCOS = os.path.join(REPO, "configs", "FCOS", "fcos_R_18_FPN_shapes.py")
CENTERNET = os.path.join(REPO, "configs", "CenterNet", "centernet_R_18_shapes.py")


@pytest.fixture(scope="module")
def user_data(tmp_path_factory):
    directory = tmp_path_factory.mktemp("user_coco")
    return write_user_coco(str(directory), "tiny_val", 6)


def test_spec_parsing_and_errors(tmp_path, user_data):
    spec = parse_dataset_spec(user_data.spec("train"))
    assert spec == DatasetSpec("train", user_data.json_file, user_data.image_root)
    with pytest.raises(ValueError, match="must have the form ROLE=PATH.json:IMAGE_DIR"):
        parse_dataset_spec(f"train={user_data.json_file}")
    with pytest.raises(ValueError, match="role must be one of train, test, not 'val'"):
        parse_dataset_spec(user_data.spec("val"))
    with pytest.raises(FileNotFoundError, match="no annotation file .*nope.json"):
        parse_dataset_spec(f"train={tmp_path}/nope.json:{user_data.image_root}")
    with pytest.raises(FileNotFoundError, match="no image folder .*nope"):
        parse_dataset_spec(f"test={user_data.json_file}:{tmp_path}/nope")


def test_paths_with_colons_and_equals_signs(tmp_path, user_data):
    odd = tmp_path / "a=b:c"
    odd.mkdir()
    json_file = odd / "x'y.json"
    json_file.write_text(open(user_data.json_file).read())
    spec = parse_dataset_spec(f"test={json_file}:{odd}")
    assert (spec.json_file, spec.image_root) == (str(json_file), str(odd))
    cfg = load_config(FCOS, [dataset_override(f"test={json_file}:{odd}")])
    assert cfg.datasets.test == f"{json_file}:{odd}"  # unparsed through the override grammar


def test_registration_has_the_json_classes_in_id_order(user_data):
    spec = parse_dataset_spec(user_data.spec("test"))
    classes = register_coco_dataset(spec)
    assert classes == ["square", "triangle", "disc"] == user_data.classes  # ids 3, 5, 7
    assert register_coco_dataset(spec) == classes  # idempotent
    records = DatasetCatalog.get(spec.name)
    assert len(records) == 6
    assert MetadataCatalog.get(spec.name).thing_classes == classes
    # Detectron2 maps the json's ids 3, 5, 7 to the contiguous 0, 1, 2 in that order.
    assert {a["category_id"] for r in records for a in r["annotations"]} <= {0, 1, 2}


@pytest.mark.parametrize("config", [FCOS, CENTERNET], ids=["fcos", "centernet"])
def test_datasets_point_the_config_at_the_data_and_set_the_class_count(config, user_data):
    cfg = load_config(
        config,
        [dataset_override(user_data.spec("train")), dataset_override(user_data.spec("test"))],
    )
    name = parse_dataset_spec(user_data.spec("train")).name
    assert cfg.dataloader.train.dataset.names == name
    assert cfg.dataloader.test.dataset.names == name
    assert cfg.dataloader.evaluator.dataset_name == name
    assert cfg.model.num_classes == 3
    assert cfg.model.head.num_classes == 3  # interpolations follow


def test_datasets_section_in_the_config_file(tmp_path, user_data):
    paths = f"{user_data.json_file}:{user_data.image_root}"
    leaf = tmp_path / "my_config.py"
    leaf.write_text(
        "from detectron2.config import LazyConfig\n"
        f"base = LazyConfig.load({FCOS!r})\n"
        "model, dataloader, train = base.model, base.dataloader, base.train\n"
        "optimizer, lr_multiplier = base.optimizer, base.lr_multiplier\n"
        "del base\n"
        f"datasets = dict(train={paths!r}, test={paths!r})\n"
    )
    cfg = load_config(str(leaf))
    assert cfg.model.num_classes == 3
    assert cfg.dataloader.test.dataset.names == parse_dataset_spec(user_data.spec("test")).name


def test_disagreeing_class_count_override_is_refused(user_data):
    with pytest.raises(ValueError, match=r"model.num_classes=5 disagrees with the 3 categories"):
        load_config(FCOS, [dataset_override(user_data.spec("test")), "model.num_classes=5"])
    cfg = load_config(FCOS, [dataset_override(user_data.spec("test")), "model.num_classes=3"])
    assert cfg.model.num_classes == 3


def test_training_set_alone_with_another_evaluation_set_is_refused(user_data):
    with pytest.raises(ValueError, match="evaluation set 'anchorfree_shapes_val' has 8 other"):
        load_config(FCOS, [dataset_override(user_data.spec("train"))])


def test_train_and_test_sets_with_different_categories_are_refused(tmp_path, user_data):
    other = write_user_coco(str(tmp_path), "tiny_train", 4)
    text = open(other.json_file).read().replace('"disc"', '"ball"')
    open(other.json_file, "w").write(text)
    with pytest.raises(ValueError, match="have different categories"):
        load_config(
            FCOS, [dataset_override(user_data.spec("train")), dataset_override(other.spec("test"))]
        )
