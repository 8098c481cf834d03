"""The live page at ``/``: two charts fed by ``/events``, and buttons that fire load.

Plain HTML and inline JavaScript drawing on ``<canvas>``; nothing is loaded
from elsewhere. The charts show the last 30 s of samples: the hub's lag,
and the jobs each pool has running or waiting.
"""

from __future__ import annotations

import json

from . import _work

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>gnotifier demo</title>
<style>
 body { font: 14px sans-serif; margin: 1em 2em; max-width: 60em; }
 canvas { border: 1px solid #ccc; width: 100%; height: 180px; }
 td, th { padding: 2px 6px; text-align: left; }
 #log { font-family: monospace; white-space: pre; color: #444; }
</style></head><body>
<h2>gnotifier demo: a patched gevent.pywsgi server</h2>
<p>A sampler thread hands its clock to the hub every 100 ms with <code>call_soon_threadsafe</code>;
the hub's lag is how late that call ran. While the hub is blocked, nobody is served.</p>
<h3>hub lag, ms <span id="lagnow"></span></h3><canvas id="lag" width="900" height="180"></canvas>
<h3>jobs running or waiting, per pool</h3><canvas id="jobs" width="900" height="180"></canvas>
<h3>fire requests from this browser</h3>
<p>requests per click <select id="count"><option>20</option><option>100</option></select>
(a browser opens about 6 connections to one server: the rest wait their turn)</p>
<p><b>inline</b>: in the request's greenlet (the hub waits); <b>work</b>: <code>gnotifier.work()</code> on the
hub's threadpool; <b>pool</b>: <code>Pool(size=__CPUS__)</code>; <b>process</b>:
<code>Pool(executor=gnotifier.ProcessPoolExecutor(__CPUS__))</code>, for the pure-Python loop only.</p>
<table id="buttons"></table>
<div id="log"></div>
<script>
const CONFIG = __CONFIG__;
const KEEP = 300, COLORS = {lag: "#c22", work: "#26c", pool: "#2a2", process: "#c80"};
const lag = [], jobs = {work: [], pool: [], process: []};

function chart(canvas, series) {
  const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  let top = 1;
  for (const s of series) for (const v of s.values) top = Math.max(top, v);
  const decade = Math.pow(10, Math.floor(Math.log10(top)));
  top = decade * [1, 2, 5, 10].find((step) => step * decade >= top);
  g.clearRect(0, 0, w, h);
  g.fillStyle = "#888"; g.strokeStyle = "#eee"; g.font = "11px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = h - 1 - (h - 12) * i / 4;
    g.beginPath(); g.moveTo(0, y); g.lineTo(w, y); g.stroke();
    g.fillText(String(top * i / 4), 2, y - 2);
  }
  series.forEach((s, n) => {
    g.strokeStyle = s.color; g.beginPath();
    s.values.forEach((v, i) => {
      const x = w - (s.values.length - i) * w / KEEP, y = h - 1 - (h - 12) * v / top;
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke(); g.fillStyle = s.color; g.fillText(s.name, w - 70, 12 + 12 * n);
  });
}

function push(values, v) { values.push(v); if (values.length > KEEP) values.shift(); }

new EventSource("/events").onmessage = (event) => {
  const sample = JSON.parse(event.data);
  push(lag, sample.lag_ms);
  document.getElementById("lagnow").textContent = "(now " + sample.lag_ms.toFixed(1) + ")";
  for (const name in jobs) {
    const s = sample.pools[name];
    push(jobs[name], s.running + s.pending);
  }
  chart(document.getElementById("lag"), [{name: "hub lag", color: COLORS.lag, values: lag}]);
  chart(document.getElementById("jobs"),
        Object.keys(jobs).map((name) => ({name: name, color: COLORS[name], values: jobs[name]})));
};

async function fire(kind, mode) {
  const count = Number(document.getElementById("count").value), url = "/work/" + kind + "?mode=" + mode;
  const start = performance.now();
  const answers = await Promise.all(Array.from({length: count}, () => fetch(url).then((r) => r.ok)));
  const seconds = ((performance.now() - start) / 1000).toFixed(2), failed = answers.filter((ok) => !ok).length;
  document.getElementById("log").textContent =
    count + " x " + url + ": " + seconds + " s" + (failed ? ", " + failed + " failed" : "") + "\\n" +
    document.getElementById("log").textContent;
}

for (const [kind, what] of Object.entries(CONFIG.kinds)) {
  const row = document.getElementById("buttons").insertRow();
  row.insertCell().textContent = kind;
  row.insertCell().textContent = what;
  for (const mode of CONFIG.modes[kind]) {
    const button = document.createElement("button");
    button.textContent = mode;
    button.onclick = () => fire(kind, mode);
    row.insertCell().appendChild(button);
  }
}
</script></body></html>
"""


def render() -> str:
    config = {
        "kinds": {kind: what for kind, (_, what) in _work.KINDS.items()},
        "modes": {kind: list(_work.modes(kind)) for kind in _work.KINDS},
    }
    return PAGE.replace("__CONFIG__", json.dumps(config)).replace("__CPUS__", str(_work.CPUS))
