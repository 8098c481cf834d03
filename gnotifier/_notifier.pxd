# Types for the compiled build of _notifier.py (see setup.py); the .py is the source.
from gnotifier._dispatch cimport Dispatcher

cdef class Notifier:
    cdef readonly Dispatcher _dispatcher
    cdef public object _lock
    cdef public object _state
    cdef public bint _queued
    cdef public bint _held
    cdef public object _callback
    cdef public tuple _args
    cdef public object _on_error
    cdef readonly bint _single_shot
    cdef public object _delivering
    cdef object __weakref__

    cpdef _deliver(self)
    cpdef bint _drop(self)
