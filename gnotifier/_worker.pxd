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
    cdef public bytearray _posted
    cdef public double _spin
    cdef public bint _spinning
    cdef public Py_ssize_t _spin_skips
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
    cpdef _put(self, item)
    cpdef _finish(self, Job job, outcome)
    cpdef _run(self, Job job, dict state)
    cpdef _next(self)

# Watches posted[0] without the GIL until it differs from ``seen`` or
# ``seconds`` pass; whether it changed. See _spin_until_posted in _worker.py.
cdef extern from *:
    """
    #if !defined(_WIN32)
    #include <sched.h>
    #include <time.h>
    #endif
    static CYTHON_INLINE void gnotifier_relax(void) {
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
        __builtin_ia32_pause();
    #elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
        __asm__ __volatile__("yield");
    #endif
    }
    static int gnotifier_spin_until_posted(PyObject *posted, int seen, double seconds) {
    #if defined(_WIN32) || !defined(CLOCK_MONOTONIC)
        return 0;  /* no monotonic clock to bound the watch with: block at once */
    #else
        volatile unsigned char *flag = (volatile unsigned char *)PyByteArray_AS_STRING(posted);
        struct timespec now;
        double end;
        unsigned int turns = 0;
        int changed = 0;
        if (seconds <= 0) {
            return 0;
        }
        Py_BEGIN_ALLOW_THREADS
        clock_gettime(CLOCK_MONOTONIC, &now);
        end = (double)now.tv_sec + (double)now.tv_nsec * 1e-9 + seconds;
        for (;;) {
            if (*flag != (unsigned char)seen) {
                changed = 1;
                break;
            }
            if ((++turns & 63) == 0) {
                /* Every few microseconds, hand the CPU to a thread that waits
                   for it: the hub, woken on this CPU, must not wait for us. */
                sched_yield();
                clock_gettime(CLOCK_MONOTONIC, &now);
                if ((double)now.tv_sec + (double)now.tv_nsec * 1e-9 >= end) {
                    break;
                }
            }
            gnotifier_relax();
        }
        Py_END_ALLOW_THREADS
        return changed;
    #endif
    }
    """
    bint _spin_until_posted "gnotifier_spin_until_posted" (bytearray posted, int seen, double seconds)
