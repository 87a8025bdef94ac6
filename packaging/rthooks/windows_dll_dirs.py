# PyInstaller runtime hook: runs first in every process of the frozen app (the GUI and the spawned
# export). On Windows, Python 3.8+ no longer searches PATH for the DLLs that extension modules
# load, so onnxruntime's own DLL folder inside the bundle (onnxruntime_providers_shared.dll) is
# added explicitly.
import os
import sys

_added = []
if sys.platform == "win32":
    _folder = os.path.join(sys._MEIPASS, "onnxruntime", "capi")
    if os.path.isdir(_folder):
        _added.append(os.add_dll_directory(_folder))
