# Types for the compiled build of _dispatch.py (see setup.py); the .py is the source.
cdef class Dispatcher:
    cdef readonly object hub
    cdef readonly object thread_ident
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
    cdef object __weakref__

    cpdef submit(self, fn, tuple args)
    cpdef bint submit_if_open(self, fn, tuple args)
    cpdef _wake(self)
    cpdef _drain(self)
    cpdef hold(self)
    cpdef release(self)
    cpdef _update_ref(self)

# Takes a queued (fn, args) pair out of the garbage collector's sight; see
# _untrack in _dispatch.py.
cdef extern from "Python.h":
    void _untrack "PyObject_GC_UnTrack" (object)
