"""A ``DatasetMapper`` that names the file when an image cannot be decoded."""

from typing import Dict

from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils

__all__ = ["ImageReadError", "read_image_checked", "CheckedDatasetMapper"]


class ImageReadError(RuntimeError):
    """An image file exists but cannot be read or decoded."""


def read_image_checked(file_name: str, image_format: str):
    """``detectron2.data.detection_utils.read_image`` with an error that names the file.
    Grayscale, palette and RGBA files are converted to ``image_format`` by Detectron2/PIL."""
    try:
        return utils.read_image(file_name, format=image_format)
    except FileNotFoundError:
        raise
    except Exception as e:  # PIL raises several types for truncated or foreign files
        raise ImageReadError(f"Cannot read image '{file_name}': {type(e).__name__}: {e}") from e


class CheckedDatasetMapper(DatasetMapper):
    """
    Detectron2's ``DatasetMapper`` that, when an image cannot be decoded, raises
    :class:`ImageReadError` naming the file instead of an anonymous PIL error from inside a
    data-loader worker. (Skipping such records is not an option on v0.6: its ``MapDataset``
    retry path calls ``random.sample`` on a set, which Python >= 3.11 rejects.)
    """

    def __call__(self, dataset_dict: Dict) -> Dict:
        try:
            return super().__call__(dataset_dict)
        except Exception:
            # Only on failure: find out whether reading the image is what failed.
            read_image_checked(dataset_dict["file_name"], self.image_format)
            raise
