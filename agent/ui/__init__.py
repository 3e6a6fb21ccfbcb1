"""What the operator sees: the live view, plain lines, the closing summary,
``status`` and ``doctor``.

Pure where it can be: ``snapshot.build_snapshot`` and ``summary.build_summary``
turn state into plain data; ``render`` turns that data into rich renderables
(and text, for tests). Only ``live`` and ``doctor`` do I/O.
"""
