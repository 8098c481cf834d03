# Types for the compiled build of _pool.py (see setup.py); the .py is the source.
from gnotifier._dispatch cimport Dispatcher

cdef class Pool:
    cdef readonly Dispatcher _dispatcher
    cdef readonly object _executor
    cdef readonly object _name
    cdef public bint _closed
    cdef public Py_ssize_t _accepted
    cdef public Py_ssize_t _completed
    cdef public Py_ssize_t _failed
    cdef public Py_ssize_t _cancelled
    cdef readonly object _drained
    cdef readonly object _room
    cdef readonly object _owned
    cdef readonly object _backend
    cdef readonly object _size
    cdef object __weakref__
