# Types for the compiled build of _worker.py (see setup.py); the .py is the source.
from gnotifier._dispatch cimport Dispatcher

cdef class Job:
    cdef public object fn
    cdef public object args
    cdef public object kwargs
    cdef public object context
    cdef public object promise
    cdef public object backend
    cdef public bint cancel_requested

cdef class Crew:
    cdef readonly Dispatcher dispatcher
    cdef readonly object threadpool
    cdef readonly object seats
    cdef readonly Py_ssize_t size
    cdef readonly object idle_timeout
    cdef readonly object name
    cdef readonly object deliver
    cdef readonly object started
    cdef public object _jobs
    cdef public dict _unstarted
    cdef public set _outstanding
    cdef public object _done
    cdef public bint _delivering
    cdef public object _lock
    cdef public Py_ssize_t _idle
    cdef public Py_ssize_t _threads
    cdef public Py_ssize_t _serial
    cdef public Py_ssize_t _active
    cdef public object _all_gone
    cdef object __weakref__

    cpdef submit(self, Job job)
    cpdef _finish(self, Job job, outcome)
    cpdef _run(self, Job job, dict state)
    cpdef _next(self)
