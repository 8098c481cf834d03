"""``python -m gnotifier demo``: what offloading buys a monkey-patched gevent server, measured.

Three kinds of process, and the modules that run in each:

- the runner (``python -m gnotifier demo``): ``_runner`` parses the flags,
  starts the other processes, times ``/ping`` in its main thread (``_load.ping``)
  and prints the table and its conclusions; with ``--serve`` it only keeps the
  server up.
- the server (``_server``, started with ``python -c``): patches first, then
  serves ``_app`` with ``gevent.pywsgi``. ``_app`` runs the jobs of ``_work``
  inline or through gnotifier (``work()``, a ``Pool`` of threads, a ``Pool``
  over a ``ProcessPoolExecutor``, whose worker processes import only
  ``_work``) and feeds the live page (``_page``) from a sampler thread.
- a load generator (``_load``) per kind and mode: plain threads on keep-alive
  connections.

The runner starts the server and each load generator in a process group of
its own and stops the group on the way out, whatever happens.
"""
