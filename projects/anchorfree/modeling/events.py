"""Training statistics for Detectron2's event writers."""

from detectron2.utils.events import get_event_storage

__all__ = ["put_scalar"]


def put_scalar(name: str, value: float) -> None:
    """Record a training scalar when an ``EventStorage`` is active (as under a trainer); a
    no-op otherwise, so that models also run in plain scripts and tests."""
    try:
        storage = get_event_storage()
    except AssertionError:
        return
    storage.put_scalar(name, value)
