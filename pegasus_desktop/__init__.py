"""Pegasus Desktop: the PySide6 app on top of ``engine``.

The GUI process loads exports and generates with onnxruntime only; exporting happens in a spawned
child process (``export_child``), which reads the checkpoint with numpy: neither process imports
torch or transformers.
"""

__version__ = "0.1.0"
