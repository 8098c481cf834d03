# Throttles: how many worker loops on a hub's shared threadpool run jobs at once.
#
# The shared threadpool lends pools up to ``maxsize - 1`` threads (their
# Seats, see _worker.py), so that up to that many calls may wait at once
# (blocking drivers, sleeps, C libraries doing I/O). Jobs that keep a CPU
# busy (hashing, compression) gain nothing from more threads than cores:
# they only queue for the cores, and the hub, one more thread among them,
# waits its turn for a core and then for the GIL. A Throttle lets as many
# loops run jobs as keep the CPUs busy, from one per core up to every seat:
#
# - A loop takes a place before it takes a job, and keeps it job after job
#   (and while it waits idle for the next) until it exits, so a busy loop
#   pays a few attribute reads and a clock read per job (and, once every
#   STEAL_PERIOD, a read of its run delay under the lock) and wakes nobody.
# - A loop that finds no place parks, first come first served. The first
#   parked loop looks at the process's CPU time every REVIEW_PERIOD: while
#   the CPUs have room, it lets one more loop in, and twice as many while
#   they are all but idle (the running jobs wait).
# - While the CPUs are busy, the limit comes down again, towards one place
#   per core: a loop over the limit parks once its job is done. Loops look
#   after their jobs, so this needs nobody parked.
# - The limit was raised for jobs that wait; when such a job ends, the job
#   queued next may compute. The throttle learns what share of its time each
#   function's jobs keep a CPU busy (its thread's CPU time over its wall
#   time). A loop above the floor whose job waited starts one that computes
#   only while the CPUs have room for it, counting the room that other
#   loops took since the last look; else it parks, and the limit with it.
#   So eight sleeps ending at once start two hashes, not eight.
# - The CPUs' time is what the process may use: within a container's CPU
#   quota (which may be a fraction of a core), less what the hypervisor gave
#   other machines while these CPUs had work (Linux's steal time, read over
#   STEAL_PERIOD): on a virtual machine whose host is busy, a process that
#   cannot get its cores is busy too, not idle.
# - Less, too, the time the loops' own threads wait, runnable, for a CPU
#   (Linux's per-thread run delay: after a job, once every STEAL_PERIOD,
#   each loop tells what share of its time since it last told it waited;
#   the shares told within _STEAL_STALE are summed, so a loop that stops
#   telling, blocked in a long call, soon stops counting): where other processes
#   keep the CPUs busy (gunicorn's other workers, on the same cores), a
#   process's own CPU time leaves room that is not there, and its hashes,
#   slowed, would look like jobs that wait. Under `gunicorn -k gevent -w 2`
#   on two cores, each worker let in all nine of its loops, and /ping took
#   130-170 ms at p99 against 8 ms with two each.
#
# Guarantees:
# - At least ``floor`` (one per core, at most ``ceiling``) loops run jobs
#   whenever that many want to: the throttle never stops all work.
# - Parked loops get places in the order they parked.
# - Nothing here needs the hub: places are given by worker threads, so a
#   hub that blocks (or waits on a thread) never stops queued jobs starting.
#
# Assumptions:
# - Any thread. Every write is under _lock but _shares's (a dict store,
#   atomic under the GIL: a lesson lost to a race is learned again); the
#   racy reads are marked where they are declared.
# - ``time.process_time()`` counts the CPU time of all the process's threads.
from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from types import BuiltinFunctionType, FunctionType, MethodType
from typing import Any, Callable, Collection, Tuple

from ._native import allocate_lock, thread_local

__all__ = [
    "CLOCK_TICKS",
    "REVIEW_PERIOD",
    "STEAL_PERIOD",
    "Throttle",
    "cgroup_cpu_quota",
    "job_key",
    "run_delay",
    "stolen_seconds",
    "usable_cpus",
]

# Seconds between two looks at how busy the CPUs are. Linux counts CPU time
# to the nanosecond; elsewhere it may move in ticks (about 15.6 ms on
# Windows), which a short window would read as all or nothing.
REVIEW_PERIOD = 0.01 if sys.platform.startswith("linux") else 0.05
# A look at a window longer than this says little about now: it only starts a new one.
_STALE = 10 * REVIEW_PERIOD
# Room, in cores, below which the CPUs count as busy; above ROOM_TO_GROW more
# loops come in. A quota under a core scales both down: see Throttle.
BUSY_ROOM = 0.25
ROOM_TO_GROW = 0.5
# A job that kept a CPU busy this share of its wall time computes; below it, it waits.
COMPUTES = 0.5
# Jobs shorter than this teach nothing: thread CPU clocks move in ticks on some systems.
_LESSON = 1e-3
# Functions whose share the throttle remembers; it forgets them all when it knows this many.
_SHARES = 256
# Seconds between two reads of the time stolen by the hypervisor: /proc/stat
# counts it in ticks of 10 ms, which a window of ten reads to a tenth of a core.
STEAL_PERIOD = 0.1
_STEAL_STALE = 10 * STEAL_PERIOD
PROC_STAT = "/proc/stat"
# Where Linux says how long the calling thread has waited, runnable, for a
# CPU: "<on-CPU ns> <waiting ns> <time slices>".
THREAD_SCHEDSTAT = "/proc/thread-self/schedstat"
try:
    CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK"))  # /proc/stat's ticks a second
except (AttributeError, ValueError, OSError):  # not a POSIX system
    CLOCK_TICKS = 100.0


# Where Linux says how much CPU time a container may use: cgroup v2, then v1.
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"  # "<quota> <period>", or "max <period>"
CGROUP_V1_QUOTA = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")  # -1: none


def usable_cpus() -> float:
    """How many CPUs' worth of time this process may use: the CPUs it may run on, within a
    container's CPU quota (which may be a fraction: 0.5 for 50 ms every 100 ms)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on this platform
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return float(cpus) if quota is None else min(float(cpus), quota)


def stolen_seconds(names: Tuple[bytes, ...] = (b"cpu",)) -> float | None:
    """The CPU time, in seconds, that the hypervisor gave other machines while the CPUs named
    (lines of /proc/stat: ``b"cpu"`` sums them all) had work to run; None where nobody counts it."""
    try:
        with open(PROC_STAT, "rb") as stat:
            lines = stat.read().splitlines()
        ticks = 0
        found = 0
        for line in lines:
            fields = line.split()
            if fields and fields[0] in names and len(fields) > 8:
                ticks += int(fields[8])  # user nice system idle iowait irq softirq steal
                found += 1
    except (OSError, ValueError):
        return None
    return ticks / CLOCK_TICKS if found == len(names) else None


def run_delay() -> float | None:
    """The seconds the calling thread has waited so far, runnable, for a CPU; None where nobody counts it."""
    try:
        with open(THREAD_SCHEDSTAT, "rb") as schedstat:
            return int(schedstat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _stat_names() -> Tuple[bytes, ...]:
    # The /proc/stat lines of the CPUs this process may run on.
    try:
        mine = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return (b"cpu",)
    if len(mine) == os.cpu_count():
        return (b"cpu",)
    return tuple(b"cpu%d" % cpu for cpu in sorted(mine))


def cgroup_cpu_quota() -> float | None:
    """The CPUs' worth of time a cgroup quota allows this process (2.5 for 250 ms every 100 ms); None if none."""
    try:
        with open(CGROUP_CPU_MAX) as limit:
            quota, period = limit.read().split()[:2]
    except (OSError, ValueError):
        try:
            with open(CGROUP_V1_QUOTA[0]) as quota_file, open(CGROUP_V1_QUOTA[1]) as period_file:
                quota, period = quota_file.read().strip(), period_file.read().strip()
        except OSError:
            return None
    try:
        allowed, every = int(quota), int(period)
    except ValueError:  # "max": no quota
        return None
    return allowed / every if allowed > 0 and every > 0 else None


def _sample() -> Tuple[float, float]:
    return time.monotonic(), time.process_time()


def _job_clock() -> Tuple[float, float]:
    return time.monotonic(), time.thread_time()


def job_key(fn: object) -> object:
    """What the throttle knows a job's function by: its code, or a builtin's name; None for any
    other callable. Never the function itself, which may hold on to large data."""
    kind = type(fn)
    if kind is FunctionType:
        return fn.__code__  # type: ignore[attr-defined]
    if kind is MethodType:
        return job_key(fn.__func__)  # type: ignore[attr-defined]
    if kind is BuiltinFunctionType:  # builtin methods too, whose object is not kept
        return (fn.__module__, fn.__qualname__)  # type: ignore[attr-defined]
    return None


_steal = stolen_seconds  # where a throttle reads the stolen time: tests stand in their own
_delay = run_delay  # where a loop reads its thread's run delay: tests stand in their own
# Each loop thread's last read of its run delay:
# {"due": monotonic of the next, "told": monotonic of the last, "seen": seconds or None}.
_delays = thread_local()


class _Parked:
    """One parked loop: a held native lock it waits on, released to wake it.

    ``signalled`` is True exactly while a signal's release of the lock has
    not been taken back by the loop, so a lock is never released twice.
    """

    __slots__ = ("admitted", "lock", "signalled")

    def __init__(self) -> None:
        self.admitted = False  # given a place; under the throttle's _lock
        self.signalled = False  # lock released and not yet taken back; under the throttle's _lock
        self.lock = allocate_lock()
        self.lock.acquire()


class Throttle:
    """Places for the loops on one shared threadpool: as many as keep ``cpus`` CPUs busy, up to ``ceiling``.

    ``cpus`` is the CPU time the process may use, in cores: a fraction under a
    container's quota. One place per core, rounded up, is the floor.
    """

    __slots__ = (
        "busy_room",
        "ceiling",
        "cpus",
        "floor",
        "grow_room",
        "limit",
        "room",
        "_claimed",
        "_holding",
        "_lock",
        "_mark",
        "_parked",
        "_shares",
        "_stat_names",
        "_steal_mark",
        "_stolen",
        "_waits",
    )

    def __init__(self, ceiling: int, cpus: float) -> None:
        self.cpus = cpus
        self.ceiling = ceiling
        self.floor = max(1, min(ceiling, math.ceil(cpus)))
        # Under a quota of less than a core, the thresholds shrink with it.
        self.busy_room = min(BUSY_ROOM, cpus / 4)
        self.grow_room = min(ROOM_TO_GROW, cpus / 2)
        self.limit = self.floor  # written under _lock; read racily by loops after each job
        self._holding = 0  # loops with a place; written under _lock, read racily by loops after each job
        # cores the CPUs had free over the last window; written under _lock, read racily by loops after each job
        self.room = cpus
        self._claimed = 0.0  # cores taken since the last look by loops whose job waited; under _lock
        # job_key(fn) -> the share of its wall time its last job computed; any loop, no lock (see _learn())
        self._shares: dict[object, float] = {}
        self._parked: deque[_Parked] = deque()  # loops waiting for a place, in order; under _lock, read racily
        self._lock = allocate_lock()
        # when the current window started: (monotonic, process CPU); under _lock, read racily by after_job()
        self._mark = _sample()
        self._stat_names = _stat_names()
        self._stolen = 0.0  # cores the hypervisor took over the last steal window
        # (monotonic, stolen seconds) at the last read, or None: never read; under _lock, read racily by review()
        self._steal_mark = self._read_steal(self._mark[0])
        # id() of a loop thread's _delays dict -> (monotonic, share of its time it waited for a CPU), as
        # the loop last told; under _lock.
        self._waits: dict[int, Tuple[float, float]] = {}

    def enter(self) -> None:
        """Take a place to run jobs; parks until one is free. A worker thread.

        Holds a place when it returns and when it raises: call leave() either way.
        """
        with self._lock:
            if self._holding < self.limit and not self._parked:
                self._holding += 1
                return
            me = _Parked()
            self._parked.append(me)
        try:
            self._wait_for_a_place(me)
        except BaseException:
            # Out of line early (an exception in this thread): take a place
            # anyway, over the limit if need be, for the caller's leave().
            with self._lock:
                if not me.admitted:
                    self._parked.remove(me)
                    self._holding += 1
                    if self._parked:
                        self._signal(self._parked[0])  # in case we were first: the next one looks
            raise

    def _wait_for_a_place(self, me: _Parked) -> None:
        woken = False  # whether our last wait took the lock a signal released
        while True:
            with self._lock:
                if me.admitted:
                    return
                if me.signalled:
                    if not woken:  # a signal came as our wait timed out, or before it: take its release back
                        me.lock.acquire(False)
                    me.signalled = False  # the lock is held again: the next signal releases it
                first = self._parked[0] is me
            # The first parked loop wakes every period to look at the CPUs; the others sleep until signalled.
            woken = me.lock.acquire(True, REVIEW_PERIOD if first else -1)
            if not woken:
                self.review()

    def someone_waits(self) -> bool:
        """Whether a loop is parked: an idle loop then gives back its place. Any thread; racy."""
        return bool(self._parked)

    def leave(self) -> None:
        """Give back this loop's place: it exits. A worker thread."""
        with self._lock:
            self._holding -= 1
            self._admit()

    @staticmethod
    def job_starts(fn: object) -> Tuple[object, float, float]:
        """Called by a loop holding a place, before a job of ``fn``: what after_job() learns from.

        Holds the function's key, never the function, which must not outlive its job.
        """
        return (job_key(fn), *_job_clock())

    def after_job(
        self,
        started: Tuple[object, float, float] | None = None,
        queued: Collection[Any] = (),
        before_parking: Callable[[], object] | None = None,
    ) -> None:
        """Called by a loop holding a place, after each job (``started`` from job_starts(), ``queued``
        the jobs not yet taken, oldest first: each has ``fn``; ``before_parking``, called before the
        loop parks, if it does).

        Learns what the job did, looks at the CPUs when a look is due, and
        parks this loop (behind the others) if the limit came down below the
        places taken, or if its job waited and the one queued next computes
        where the CPUs have no room for it.
        """
        waited = started is not None and self._learn(started)
        now = time.monotonic()
        if now >= _delays.__dict__.get("due", 0.0):
            self._tell_delay(now)
        if self.limit > self.floor and now - self._mark[0] >= REVIEW_PERIOD:
            self.review()  # only to bring the limit down: parked loops look to bring it up
        if waited and self._holding > self.floor and queued:  # racy: checked again under the lock
            share = self._next_share(queued)
            if share:
                with self._lock:
                    fits = self._holding <= self.floor or self.room - self._claimed > self.grow_room
                    if fits:
                        self._claimed += share
                    else:  # the place goes, and the limit with it: only a look finding room brings it back
                        self._holding -= 1
                        self.limit = max(self.floor, min(self.limit, self._holding))
                        self._admit()
                if not fits:
                    if before_parking is not None:
                        before_parking()
                    self.enter()
                    return
        if self._holding > self.limit:  # racy: checked again under the lock
            with self._lock:
                if self._holding <= self.limit:
                    return
                self._holding -= 1
                self._admit()
            if before_parking is not None:
                before_parking()
            self.enter()

    def _tell_delay(self, now: float) -> None:
        # A loop thread, once every STEAL_PERIOD: what share of its time it waited for a CPU since it last told.
        mine = _delays.__dict__
        mine["due"] = now + STEAL_PERIOD
        delay = _delay()
        seen, told = mine.get("seen"), mine.get("told", now)
        mine["seen"], mine["told"] = delay, now
        if delay is not None and seen is not None and now > told:
            share = min(1.0, max(0.0, (delay - seen) / (now - told)))
            with self._lock:
                self._waits[id(mine)] = (now, share)  # this thread's own dict: one per live thread

    def _waiting(self, now: float) -> float:
        # Under _lock: the cores' worth of loops waiting for a CPU, as told within _STEAL_STALE; forgets older tells.
        waits = self._waits
        for ident in [ident for ident, (told, _) in waits.items() if now - told > _STEAL_STALE]:
            del waits[ident]
        return sum(share for _, share in waits.values())

    def _learn(self, started: Tuple[object, float, float]) -> bool:
        # What share of its wall time the job just done computed, remembered
        # for its function; whether it waited. Any loop, unlocked: each dict
        # operation is atomic, and a lesson lost to a race is learned again.
        key, wall, cpu = started
        now_wall, now_cpu = _job_clock()
        elapsed = now_wall - wall
        if elapsed < _LESSON:
            return False
        share = (now_cpu - cpu) / elapsed
        if key is not None:
            shares = self._shares
            if len(shares) >= _SHARES and key not in shares:
                shares.clear()  # functions made on the fly: forget them rather than grow
            shares[key] = share
        return share < COMPUTES

    def _next_share(self, queued: Collection[Any]) -> float:
        # The share of a CPU the oldest queued job is known to keep busy; 0.0 if it waits or nobody knows.
        try:
            fn = next(iter(queued)).fn
        except (StopIteration, RuntimeError):  # taken meanwhile, or the queue changed as we looked
            return 0.0
        key = job_key(fn)
        share = None if key is None else self._shares.get(key)
        return share if share is not None and share >= COMPUTES else 0.0

    def review(self) -> None:
        """Look at how busy the CPUs were since the last look; let more loops in, or fewer."""
        now = _sample()
        mark = self._steal_mark
        steal = None  # a fresh read of the stolen time, when one is due
        if mark is not None and now[0] - mark[0] >= STEAL_PERIOD:  # racy: checked again under the lock
            steal = self._read_steal(now[0])
        with self._lock:
            if steal is not None:
                self._note_steal(steal)
            wall, cpu = self._mark
            elapsed = now[0] - wall
            if elapsed < REVIEW_PERIOD / 2:
                return  # another loop just looked
            self._mark = now
            if elapsed > _STALE:
                return  # a new window starts now
            used = (now[1] - cpu) / elapsed
            room = self.cpus - self._stolen - self._waiting(now[0]) - used
            self.room = room
            self._claimed = 0.0  # what they took shows in the next window
            if room > self.grow_room and self._parked:
                # The process all but idle: the running jobs wait, so twice as many may; else one more.
                self.limit = min(self.ceiling, self.limit + (self.limit if used < self.grow_room else 1))
            elif room < self.busy_room:
                self.limit = max(self.floor, self.limit - 1)
            self._admit()

    def _note_steal(self, steal: Tuple[float, float]) -> None:
        # Under _lock: the cores stolen since the last read, if that one is not too recent for the ticks.
        mark = self._steal_mark
        if mark is None or steal[0] - mark[0] < STEAL_PERIOD:
            return  # another loop just read it
        window = steal[0] - mark[0]
        # A window long past says nothing of now: it only starts a new one.
        self._stolen = (steal[1] - mark[1]) / window if window <= _STEAL_STALE else 0.0
        self._steal_mark = steal

    def _read_steal(self, now: float) -> Tuple[float, float] | None:
        stolen = _steal(self._stat_names)
        return None if stolen is None else (now, stolen)

    def _admit(self) -> None:
        # Under _lock: places to the parked loops, first come first; the first left then looks at the CPUs.
        parked = self._parked
        if not parked or self._holding >= self.limit:
            return
        while parked and self._holding < self.limit:
            waiter = parked.popleft()
            waiter.admitted = True
            self._holding += 1
            self._signal(waiter)
        if parked:
            self._signal(parked[0])  # the new first, asleep until now

    @staticmethod
    def _signal(waiter: _Parked) -> None:
        # Under _lock. Releases a held lock only: released twice, a lock raises.
        if not waiter.signalled:
            waiter.signalled = True
            waiter.lock.release()

    def reset(self) -> None:
        """Forget every place and parked loop: a forked child's workers are gone."""
        self._holding = 0
        self._parked = deque()
        self._lock = allocate_lock()
        self.limit = self.floor
        self.room = self.cpus
        self._claimed = 0.0
        self._mark = _sample()
        self._stolen = 0.0
        self._steal_mark = self._read_steal(self._mark[0])
        self._waits = {}
