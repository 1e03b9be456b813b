"""A user's own COCO-format dataset, built on the fly for the tests: images and boxes from the
embedded generator, written as a plain json + image folder with a class list of its own (three
of the generator's classes, renamed), and optionally every kind of bad entry a real dataset has."""

import json
import os
from dataclasses import dataclass
from typing import List

from anchorfree.data.synthetic_shapes import generate_synthetic_shapes

# The generator's category ids kept, and the names they get.
KEPT_CATEGORIES = {1: "disc", 2: "square", 3: "triangle"}
# Category ids of the written json: deliberately not 1..3, so that the contiguous mapping of
# Detectron2's load_coco_json is exercised.
NEW_IDS = {1: 7, 2: 3, 3: 5}


@dataclass
class CocoFiles:
    json_file: str
    image_root: str
    num_images: int
    corrupt_files: List[str]
    # Images left without a usable annotation once the bad boxes are dropped.
    num_images_without_annotations: int

    def spec(self, role: str) -> str:
        return f"{role}={self.json_file}:{self.image_root}"

    @property
    def classes(self) -> List[str]:
        return [KEPT_CATEGORIES[old] for old, _ in sorted(NEW_IDS.items(), key=lambda kv: kv[1])]


def write_user_coco(
    directory: str, split: str, num_images: int, *, bad_entries: bool = False
) -> CocoFiles:
    """
    Write ``num_images`` images of the generator's ``split`` to ``directory/images`` and their
    annotations of three classes to ``directory/<split>.json``. With ``bad_entries``, also: one
    corrupt image file (with a valid annotation), one image without annotations, and a NaN box,
    a negative-width box and a box entirely outside its image (annotations training drops).
    """
    root = os.path.join(directory, "generated")
    source_json, source_images = generate_synthetic_shapes(root, split, num_images)
    with open(source_json) as f:
        source = json.load(f)
    image_root = os.path.join(directory, "images")
    os.makedirs(image_root, exist_ok=True)
    images = []
    for image in source["images"]:
        target = os.path.join(image_root, image["file_name"])
        if not os.path.exists(target):
            os.symlink(os.path.join(source_images, image["file_name"]), target)
        images.append(image)
    annotations = [
        dict(a, category_id=NEW_IDS[a["category_id"]])
        for a in source["annotations"]
        if a["category_id"] in NEW_IDS
    ]
    corrupt, bad_ids = [], set()
    if bad_entries:
        next_image = max(i["id"] for i in images) + 1
        next_ann = max(a["id"] for a in annotations) + 1
        corrupt_name = "corrupt.jpg"
        with open(os.path.join(image_root, corrupt_name), "wb") as f:
            f.write(b"\xff\xd8\xff\xe0 truncated jpeg")
        corrupt.append(os.path.join(image_root, corrupt_name))
        images.append({"id": next_image, "file_name": corrupt_name, "height": 64, "width": 64})
        annotations.append(_annotation(next_ann, next_image, [4, 4, 20, 20]))
        first = images[0]
        annotations += [
            _annotation(next_ann + 1, first["id"], [float("nan"), 4, 10, 10]),
            _annotation(next_ann + 2, first["id"], [30, 30, -12, 10]),
            _annotation(next_ann + 3, first["id"], [first["width"] + 5, 4, 10, 10]),
        ]
        bad_ids = {next_ann + 1, next_ann + 2, next_ann + 3}
        empty_name = "empty.jpg"
        target = os.path.join(image_root, empty_name)
        if not os.path.exists(target):
            os.symlink(os.path.join(source_images, images[1]["file_name"]), target)
        images.append(dict(images[1], id=next_image + 1, file_name=empty_name))
    usable = {a["image_id"] for a in annotations if a["id"] not in bad_ids}
    categories = [{"id": NEW_IDS[old], "name": name} for old, name in KEPT_CATEGORIES.items()]
    json_file = os.path.join(directory, f"{split}.json")
    with open(json_file, "w") as f:
        # NaN is written as the bare token NaN, which Python's json (and pycocotools) read back.
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    return CocoFiles(json_file, image_root, len(images), corrupt, len(images) - len(usable))


def _annotation(ann_id, image_id, bbox):
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": NEW_IDS[1],
        "bbox": bbox,
        "area": abs(bbox[2] * bbox[3]) if all(v == v for v in bbox) else 0.0,
        "iscrowd": 0,
    }
