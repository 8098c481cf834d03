# Types for the compiled build of _threads.py (see setup.py); the .py is the source.
from gnotifier._dispatch cimport Dispatcher, known_dispatcher

cdef _call_soon(Dispatcher dispatcher, fn, tuple args)
