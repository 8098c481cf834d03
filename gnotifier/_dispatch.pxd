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
    cdef public int _fd
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

    cpdef submit(self, fn, tuple args, bint keep_gil=*)
    cpdef bint submit_if_open(self, fn, tuple args, bint keep_gil=*)
    cpdef _wake(self, bint keep_gil=*)
    @cython.locals(batch=Py_ssize_t)
    cpdef _drain(self)
    cpdef hold(self)
    cpdef release(self)
    cpdef _update_ref(self)
    cpdef bint in_hub_thread(self)

cdef Py_ssize_t _backlog_high

cpdef Dispatcher known_dispatcher(hub)
cdef _forget(Dispatcher dispatcher)

# C functions the compiled build calls directly; see _untrack in _dispatch.py.
cdef extern from "Python.h":
    void _untrack "PyObject_GC_UnTrack" (object)
    unsigned long _thread_ident "PyThread_get_thread_ident" ()

# Untracks a tuple none of whose items the collector may track, the test
# CPython's own collector applies to tuples (_PyTuple_MaybeUntrack).
cdef extern from *:
    """
    static CYTHON_INLINE void gnotifier_untrack_atomic(PyObject *args) {
        Py_ssize_t i;
        for (i = 0; i < PyTuple_GET_SIZE(args); i++) {
            PyObject *item = PyTuple_GET_ITEM(args, i);
            if (PyObject_IS_GC(item) && (!PyTuple_CheckExact(item) || PyObject_GC_IsTracked(item))) {
                return;
            }
        }
        PyObject_GC_UnTrack(args);
    }
    """
    void _untrack_atomic "gnotifier_untrack_atomic" (tuple)

# An eventfd's add and read, holding the GIL; see _write_one in _dispatch.py.
# Their results are not looked at: the eventfd is non-blocking, a write
# cannot overflow its count, and a read finds it at 0 only when libev saw
# it readable and it was not.
cdef extern from *:
    """
    #ifdef _WIN32
    #define GNOTIFIER_WRITE_KEEPS_GIL 0
    static int gnotifier_write_one(int fd) { (void)fd; return -1; }
    static int gnotifier_empty(int fd) { (void)fd; return -1; }
    #else
    #include <stdint.h>
    #include <unistd.h>
    #define GNOTIFIER_WRITE_KEEPS_GIL 1
    static int gnotifier_write_one(int fd) { uint64_t one = 1; return (int)write(fd, &one, sizeof one); }
    static int gnotifier_empty(int fd) { uint64_t count; return (int)read(fd, &count, sizeof count); }
    #endif
    """
    const bint _write_keeps_gil "GNOTIFIER_WRITE_KEEPS_GIL"
    int _write_one "gnotifier_write_one" (int fd)
    int _empty "gnotifier_empty" (int fd)
