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
    cdef readonly bint owns_threadpool
    cdef public object _jobs
    cdef public object _handoff
    cdef public bytearray _posted
    cdef public double _spin
    cdef public bint _spinning
    cdef public Py_ssize_t _spin_skips
    cdef public double _grace
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
    cpdef _next(self, dict state)
    cpdef _call_hub(self, dict state, bint keep_gil=*)

# Watches posted[0] without the GIL until it differs from ``seen`` or
# ``seconds`` pass, then, if it changed, ``grace`` seconds more before it
# takes the GIL back: 0 if nothing came, else 1, or 2 if it then waited for
# the GIL. See _spin_until_posted in _worker.py.
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
    #if !defined(_WIN32) && defined(CLOCK_MONOTONIC)
    /* Seconds above which taking the GIL back was a wait, not a formality:
       a free GIL takes well under a microsecond, a thread wake-up several. */
    #define GNOTIFIER_GIL_WAITED 2e-6
    static CYTHON_INLINE double gnotifier_now(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
    }
    #endif
    static int gnotifier_spin_until_posted(PyObject *posted, int seen, double seconds, double grace) {
    #if defined(_WIN32) || !defined(CLOCK_MONOTONIC)
        return 0;  /* no monotonic clock to bound the watch with: block at once */
    #else
        volatile unsigned char *flag = (volatile unsigned char *)PyByteArray_AS_STRING(posted);
        double end;
        unsigned int turns = 0;
        int changed = 0;
        if (seconds <= 0) {
            return 0;
        }
    #if defined(Py_GIL_DISABLED)
        grace = 0;  /* no GIL to wait for */
    #endif
        Py_BEGIN_ALLOW_THREADS
        end = gnotifier_now() + seconds;
        for (;;) {
            if (*flag != (unsigned char)seen) {
                changed = 1;
                break;
            }
            if ((++turns & 63) == 0) {
                /* Every few microseconds, hand the CPU to a thread that waits
                   for it: the hub, woken on this CPU, must not wait for us. */
                sched_yield();
                if (gnotifier_now() >= end) {
                    break;
                }
            }
            gnotifier_relax();
        }
        if (changed && grace > 0) {
            /* The hub bumped the flag holding the GIL; asked for it now, we
               would sleep until the hub lets go of it and then pay a thread
               wake-up. It lets go within microseconds when it goes on to
               wait for the job, so watch a little longer first. */
            end = gnotifier_now() + grace;
            while (gnotifier_now() < end) {
                gnotifier_relax();
            }
        }
        end = gnotifier_now();
        Py_END_ALLOW_THREADS
        if (changed && gnotifier_now() - end > GNOTIFIER_GIL_WAITED) {
            changed = 2;  /* the GIL was not free: we slept for it */
        }
        return changed;
    #endif
    }
    """
    int _spin_until_posted "gnotifier_spin_until_posted" (bytearray posted, int seen, double seconds, double grace)
