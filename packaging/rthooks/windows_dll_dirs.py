# PyInstaller runtime hook: runs first in every process of the frozen app (the GUI and the spawned
# export). On Windows, Python 3.8+ no longer searches PATH for the DLLs that extension modules
# load, so onnxruntime's and torch's own DLL folders inside the bundle are added explicitly
# (onnxruntime_providers_shared.dll, torch's c10.dll and friends).
import os
import sys

_added = []
if sys.platform == "win32":
    for _parts in (("onnxruntime", "capi"), ("torch", "lib")):
        _folder = os.path.join(sys._MEIPASS, *_parts)
        if os.path.isdir(_folder):
            _added.append(os.add_dll_directory(_folder))
