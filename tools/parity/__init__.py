"""
Whole-network parity against the original authors' code, run by hand (never by the tests or
CI): each ``check_*`` script builds the original network from a checkout of its published
source that the user points it to, gives it random weights, saves them in the original's
checkpoint format, converts them with ``tools/convert_checkpoint.py``, loads them into this
project's model and compares both on the same inputs. :mod:`.reference_ops` holds slow, obvious
implementations of the originals' compiled operators, which stand in for them there.
"""
