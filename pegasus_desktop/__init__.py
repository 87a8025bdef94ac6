"""Pegasus Desktop: the PySide6 app on top of ``engine``.

The GUI process loads exports and generates with onnxruntime only; exporting (torch and
transformers) happens in a spawned child process (``export_child``), so the GUI never imports torch.
"""

__version__ = "0.1.0"
