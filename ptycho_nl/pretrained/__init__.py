"""Networks trained longer than a demo can afford, shipped with the package (`index.py`), and
the command that makes them (`make.py`)."""
