# Types for the compiled build of _dispatch.py (see setup.py); the .py is the source.
cimport cython

cdef class Dispatcher:
    cdef readonly object hub
    cdef readonly unsigned long thread_ident
    cdef public object _calls
    cdef public bint _wakeup_pending
    cdef public object _state
    cdef public object _lock
    cdef public object _watcher
    cdef public Py_ssize_t _holds
    cdef public bint _ref
    cdef public bint _backlog_held
    cdef public Py_ssize_t _slices
    cdef public Py_ssize_t _largest
    cdef public bint _woken
    cdef public Py_ssize_t _stalled_at
    cdef public dict _on_close
    cdef public object checked
    cdef object __weakref__

    cpdef submit(self, fn, tuple args)
    cpdef bint submit_if_open(self, fn, tuple args)
    cpdef _wake(self)
    @cython.locals(batch=Py_ssize_t)
    cpdef _drain(self)
    cpdef hold(self)
    cpdef release(self)
    cpdef _update_ref(self)
    cpdef bint in_hub_thread(self)

# C functions the compiled build calls directly; see _untrack in _dispatch.py.
cdef extern from "Python.h":
    void _untrack "PyObject_GC_UnTrack" (object)
    unsigned long _thread_ident "PyThread_get_thread_ident" ()
