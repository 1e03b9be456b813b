"""
A ``DatasetMapper`` that copes with unreadable images, and the loader filter that goes with it.

A long run on real data meets truncated, corrupt or foreign files. By default
:class:`CheckedDatasetMapper` does not raise on them: it returns a small *marker* record instead
of a training example, and :class:`UnreadableImageFilter` (wrapped around the data loader by
``anchorfree.engine``) takes the markers out of each batch in the main process, logs each file
once with the reason and keeps the count for a summary. The skip is decided in the mapper,
inside the data-loader workers, but counted in the main process, so the count is exact with any
number of workers. (Detectron2 v0.6's own path, a mapper returning ``None``, retries through
``random.sample`` on a set, which Python >= 3.11 rejects; it is not used.)
"""

import logging
from typing import Any, Dict, Iterable, Iterator, List, Optional

from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils

__all__ = [
    "CheckedDatasetMapper",
    "ImageReadError",
    "UnreadableImageFilter",
    "is_unreadable_marker",
    "read_image_checked",
]

logger = logging.getLogger(__name__)

# Key of the marker record that stands in for an unreadable image (its value: the reason).
UNREADABLE_IMAGE_KEY = "unreadable_image"


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


def is_unreadable_marker(record: Dict[str, Any]) -> bool:
    """Whether a mapped record is the marker of an unreadable image (see module doc)."""
    return UNREADABLE_IMAGE_KEY in record


class CheckedDatasetMapper(DatasetMapper):
    """
    Detectron2's ``DatasetMapper`` (same arguments) that handles images it cannot decode.

    With ``skip_unreadable=True`` (the default) such a record is mapped to a marker
    ``{"file_name", "image_id", "height", "width", "unreadable_image": reason}`` that
    :class:`UnreadableImageFilter` removes and counts; with ``False`` it raises
    :class:`ImageReadError` naming the file. Other failures are raised as they are.
    """

    def __init__(self, *args, skip_unreadable: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.skip_unreadable = skip_unreadable

    def __call__(self, dataset_dict: Dict) -> Dict:
        try:
            return super().__call__(dataset_dict)
        except Exception:
            # Only on failure: find out whether reading the image is what failed.
            try:
                read_image_checked(dataset_dict["file_name"], self.image_format)
            except ImageReadError as e:
                if not self.skip_unreadable:
                    raise
                return {
                    "file_name": dataset_dict["file_name"],
                    "image_id": dataset_dict.get("image_id"),
                    # Detectron2's aspect-ratio grouping reads these of every mapped record.
                    "height": dataset_dict.get("height", 0),
                    "width": dataset_dict.get("width", 0),
                    UNREADABLE_IMAGE_KEY: f"{type(e.__cause__).__name__}: {e.__cause__}",
                }
            raise


class UnreadableImageFilter:
    """
    Iterates over ``loader``'s batches with the unreadable-image markers removed (a batch left
    empty is not yielded). Each skipped file is logged once, with the reason; :attr:`skipped`
    maps file names to how often they were skipped and :meth:`summary` says it in one line.

    With ``max_empty_batches_in_a_row`` it raises :class:`ImageReadError` when that many
    batches in a row had no readable image: on an infinite training loader over unreadable
    files, skipping would loop forever.
    """

    def __init__(
        self,
        loader: Iterable[List[Dict]],
        *,
        context: str,
        max_empty_batches_in_a_row: Optional[int] = None,
    ):
        """``context`` names the run in the messages, e.g. ``"Training"``."""
        self.loader = loader
        self.context = context
        self.max_empty_batches_in_a_row = max_empty_batches_in_a_row
        self.skipped: Dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.loader)  # Detectron2's inference_on_dataset reports progress with it

    def __iter__(self) -> Iterator[List[Dict]]:
        empty_in_a_row = 0
        for batch in self.loader:
            kept = [record for record in batch if not is_unreadable_marker(record)]
            for marker in (record for record in batch if is_unreadable_marker(record)):
                self._count(marker)
            if kept:
                empty_in_a_row = 0
                yield kept
                continue
            empty_in_a_row += 1
            if empty_in_a_row == self.max_empty_batches_in_a_row:
                raise ImageReadError(
                    f"{self.context}: {empty_in_a_row} batches in a row without a readable "
                    f"image ({self.summary()})."
                )

    def _count(self, marker: Dict) -> None:
        file_name = marker["file_name"]
        if file_name not in self.skipped:
            reason = marker[UNREADABLE_IMAGE_KEY]
            logger.warning(f"{self.context}: skipping unreadable image '{file_name}' ({reason}).")
            self.skipped[file_name] = 0
        self.skipped[file_name] += 1

    def summary(self) -> str:
        """One line on the skipped files, e.g. for the end of a run."""
        if not self.skipped:
            return f"{self.context}: no unreadable image."
        names = sorted(self.skipped)
        listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return (
            f"{self.context}: skipped {len(names)} unreadable image file(s), "
            f"{sum(self.skipped.values())} time(s) in all: {listed}"
        )
