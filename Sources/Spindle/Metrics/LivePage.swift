/// The live page of the admin listener (`GET /_spindle/`): one self-contained HTML document
/// (inline CSS and JavaScript, plots drawn on `<canvas>`, nothing fetched from elsewhere) that
/// polls `stats` (`GET /_spindle/stats`, `LiveStats`) every second and plots the last five
/// minutes it has seen. It keeps its history itself: the server keeps none, and costs nothing
/// while no page is open. Every figure it shows is also written into an element's
/// `data-value` (`rps`, `p50`, `p90`, `p99`, `requests-total`, `connections-open`,
/// `fibers-live`, `rss`; `data-samples` on the body; `data-route`, `data-rate` and
/// `data-total` on the route table's rows), which the tests read.
///
/// With an admin token, the page and its polls both need `Authorization: Bearer <token>`, as
/// `/metrics` does: a browser reaches it through something that adds the field (a proxy).
enum LivePage {
    /// The content type of the page.
    static let contentType = "text/html; charset=utf-8"

    /// The document's bytes (made once, on first use).
    static let bytes: [UInt8] = Array(html.utf8)

    /// The document.
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spindle live</title>
<style>
:root { --bg:#f6f7f9; --card:#fff; --text:#1f2328; --muted:#5f6670; --line:#e3e6ea; --axis:#9aa1a9; }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--text); font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",Arial,sans-serif; }
header { display:flex; align-items:baseline; justify-content:space-between; gap:16px; padding:14px 24px; background:var(--card); border-bottom:1px solid var(--line); }
header h1 { margin:0; font-size:18px; font-weight:600; }
header .meta { color:var(--muted); font-size:13px; }
#status::before { content:""; display:inline-block; width:8px; height:8px; border-radius:50%; margin-right:6px; background:#9aa1a9; vertical-align:1px; }
#status.live::before { background:#2f9e44; }
#status.stale::before { background:#d9480f; }
main { padding:16px 24px 24px; max-width:1400px; margin:0 auto; }
.tiles { display:grid; grid-template-columns:repeat(auto-fit,minmax(130px,1fr)); gap:10px; margin-bottom:14px; }
.tile { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:8px 12px; }
.tile .label { color:var(--muted); font-size:12px; }
.tile .value { font-size:20px; font-weight:600; font-variant-numeric:tabular-nums; white-space:nowrap; }
.charts { display:grid; grid-template-columns:repeat(auto-fit,minmax(380px,1fr)); gap:12px; }
.chart { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:10px 12px 6px; display:flex; flex-direction:column; }
.chart h2 { margin:0; font-size:14px; font-weight:600; }
.chart .note { color:var(--muted); font-size:12px; margin:0 0 2px; }
.legend { display:flex; flex-wrap:wrap; gap:4px 14px; font-size:12px; color:var(--muted); min-height:18px; }
.legend span { white-space:nowrap; }
.legend i { display:inline-block; width:14px; height:3px; margin-right:5px; vertical-align:3px; border-radius:1px; }
.legend b { color:var(--text); font-weight:600; font-variant-numeric:tabular-nums; margin-left:4px; }
canvas { display:block; width:100%; height:172px; margin-top:auto; }
section.routes { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:10px 12px; margin-top:12px; }
section.routes h2 { margin:0 0 6px; font-size:14px; font-weight:600; }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
th, td { text-align:right; padding:5px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:600; font-size:12px; }
th:first-child, td:first-child { text-align:left; font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:13px; white-space:normal; word-break:break-all; }
td.bar { width:18%; }
td.bar div { height:8px; background:#4c6ef5; border-radius:2px; opacity:.75; }
.empty { color:var(--muted); text-align:left; }
</style>
</head>
<body data-samples="0">
<header>
  <h1>Spindle live</h1>
  <div class="meta"><span id="server">connecting…</span> · <span id="status">waiting for the first sample</span></div>
</header>
<main>
  <div class="tiles">
    <div class="tile"><div class="label">Requests/s</div><div class="value" id="rps" data-value="">–</div></div>
    <div class="tile"><div class="label">Latency p50</div><div class="value" id="p50" data-value="">–</div></div>
    <div class="tile"><div class="label">Latency p90</div><div class="value" id="p90" data-value="">–</div></div>
    <div class="tile"><div class="label">Latency p99</div><div class="value" id="p99" data-value="">–</div></div>
    <div class="tile"><div class="label">Requests answered</div><div class="value" id="requests-total" data-value="">–</div></div>
    <div class="tile"><div class="label">Connections open</div><div class="value" id="connections-open" data-value="">–</div></div>
    <div class="tile"><div class="label">Fibers</div><div class="value" id="fibers-live" data-value="">–</div></div>
    <div class="tile"><div class="label">Resident memory</div><div class="value" id="rss" data-value="">–</div></div>
  </div>
  <div class="charts" id="charts"></div>
  <section class="routes">
    <h2>Busiest routes <span class="note" id="routes-window"></span></h2>
    <table>
      <thead><tr><th>Route</th><th>Requests/s</th><th></th><th>Mean</th><th>p50</th><th>p99</th><th>Requests</th></tr></thead>
      <tbody id="routes"><tr><td class="empty" colspan="7">No requests yet.</td></tr></tbody>
    </table>
  </section>
</main>
<script>
"use strict";
const WINDOW_SECONDS = 300, POLL_MS = 1000, ROUTE_WINDOW_SECONDS = 10, ROUTE_ROWS = 12;
const COLORS = ["#3b5bdb", "#e8590c", "#c92a2a", "#2b8a3e", "#0c8599", "#7048e8", "#868e96"];

// Number formats with their units.
function trim(x, digits) { return Number(x.toFixed(digits)).toString(); }
function fmtCount(x) {
  if (x == null || !isFinite(x)) return "–";
  const a = Math.abs(x);
  if (a >= 1e9) return trim(x / 1e9, 2) + "G";
  if (a >= 1e6) return trim(x / 1e6, 2) + "M";
  if (a >= 1e4) return trim(x / 1e3, 1) + "k";
  if (a >= 1e3) return trim(x / 1e3, 2) + "k";
  if (a >= 100) return Math.round(x).toString();
  return trim(x, a >= 10 ? 1 : 2);
}
function fmtSeconds(s) {
  if (s == null || !isFinite(s)) return "–";
  if (s === 0) return "0";
  if (s < 1e-3) return trim(s * 1e6, s < 1e-5 ? 1 : 0) + " µs";
  if (s < 1) return trim(s * 1e3, s < 1e-2 ? 2 : 1) + " ms";
  return trim(s, 2) + " s";
}
function fmtBytes(b) {
  if (b == null || !isFinite(b)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return trim(b, Math.abs(b) >= 100 || i === 0 ? 0 : 1) + " " + units[i];
}

// A line chart on a canvas: time on x (seconds before the last sample), values on y.
class Chart {
  constructor(parent, options) {
    this.o = options;
    const box = document.createElement("div");
    box.className = "chart";
    box.id = "chart-" + options.id;
    box.innerHTML = `<h2>${options.title}</h2><p class="note">${options.note}</p><div class="legend"></div><canvas></canvas>`;
    parent.appendChild(box);
    this.legend = box.querySelector(".legend");
    this.canvas = box.querySelector("canvas");
  }
  // points: [{t, values: [..per series, null for a gap]}], names: the series' names now.
  draw(points, names) {
    const o = this.o, c = this.canvas, ratio = window.devicePixelRatio || 1;
    const width = c.clientWidth, height = c.clientHeight;
    if (c.width !== Math.round(width * ratio)) c.width = Math.round(width * ratio);
    if (c.height !== Math.round(height * ratio)) c.height = Math.round(height * ratio);
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = "11px system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif";
    const last = points.length ? points[points.length - 1] : null;
    this.legend.innerHTML = names.map((name, i) => {
      const v = last ? last.values[i] : null;
      return `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${name}<b>${v == null ? "–" : o.format(v)}</b></span>`;
    }).join("");
    const left = 58, right = 10, top = o.unit ? 20 : 8, bottom = 22;
    const plotW = width - left - right, plotH = height - top - bottom;
    if (plotW <= 10 || plotH <= 10) return;
    const tEnd = last ? last.t : 0;
    const span = Math.max(60, Math.min(WINDOW_SECONDS, points.length ? tEnd - points[0].t : 60));
    const visible = points.filter(p => p.t >= tEnd - span);
    let max = 0, min = Infinity;
    for (const p of visible) for (const v of p.values) if (v != null && isFinite(v)) { max = Math.max(max, v); if (v > 0) min = Math.min(min, v); }
    let ticks, y;
    if (o.log) {
      // Whole decades around the values, at least two.
      let low = Math.floor(Math.log10(isFinite(min) ? min : o.emptyMax / 100));
      let high = Math.ceil(Math.log10(max > 0 ? max : o.emptyMax));
      if (high <= low) high = low + 1;
      if (high - low < 2) low = high - 2;
      ticks = [];
      for (let d = low; d <= high; d++) ticks.push(Math.pow(10, d));
      y = v => top + plotH * (1 - (Math.log10(Math.max(v, ticks[0])) - low) / (high - low));
    } else {
      ticks = (o.ticks || niceTicks)(max > 0 ? max : o.emptyMax);
      const yMax = ticks[ticks.length - 1];
      y = v => top + plotH * (1 - v / yMax);
    }
    const x = t => left + plotW * (1 - (tEnd - t) / span);
    // Grid and y labels (on a log scale, unlabelled lines at 2 and 5 times each decade too).
    g.lineWidth = 1;
    if (o.log) {
      g.strokeStyle = "#f0f2f4";
      for (const decade of ticks.slice(0, -1)) for (const m of [2, 5]) {
        const py = Math.round(y(decade * m)) + 0.5;
        g.beginPath(); g.moveTo(left, py); g.lineTo(left + plotW, py); g.stroke();
      }
    }
    g.strokeStyle = "#e3e6ea"; g.fillStyle = "#5f6670";
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const v of ticks) {
      const py = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, py); g.lineTo(left + plotW, py); g.stroke();
      g.fillText(o.format(v), left - 6, py);
    }
    // Time labels: seconds before the last sample.
    const step = [10, 15, 30, 60, 120].find(s => span / s <= 4.5) || 60;
    g.textAlign = "center"; g.textBaseline = "top";
    for (let s = 0; s <= span + 0.001; s += step) {
      const px = Math.round(x(tEnd - s)) + 0.5;
      g.beginPath(); g.moveTo(px, top + plotH); g.lineTo(px, top + plotH + 4); g.strokeStyle = "#9aa1a9"; g.stroke();
      const label = s === 0 ? "now" : (s % 60 === 0 ? `−${s / 60} min` : `−${s} s`);
      g.fillText(label, Math.min(Math.max(px, left + 14), left + plotW - 12), top + plotH + 6);
    }
    if (o.unit) { g.textAlign = "left"; g.textBaseline = "top"; g.fillStyle = "#5f6670"; g.fillText(o.unit, 4, 2); }
    g.strokeStyle = "#9aa1a9";
    g.beginPath(); g.moveTo(left + 0.5, top); g.lineTo(left + 0.5, top + plotH + 0.5); g.lineTo(left + plotW, top + plotH + 0.5); g.stroke();
    // Series, clipped to the plot.
    g.save(); g.beginPath(); g.rect(left, top - 1, plotW, plotH + 2); g.clip();
    g.lineWidth = 1.75; g.lineJoin = "round";
    names.forEach((_, i) => {
      g.strokeStyle = COLORS[i % COLORS.length];
      g.beginPath();
      let drawing = false;
      for (const p of visible) {
        const v = p.values[i];
        if (v == null || !isFinite(v)) { drawing = false; continue; }
        if (drawing) g.lineTo(x(p.t), y(v)); else { g.moveTo(x(p.t), y(v)); drawing = true; }
      }
      g.stroke();
    });
    g.restore();
  }
}
// 0 and about four evenly spaced round values up to at least `max`.
function niceTicks(max) {
  const raw = max / 4, power = Math.pow(10, Math.floor(Math.log10(raw)));
  const unit = [1, 2, 2.5, 5, 10].map(m => m * power).find(u => u >= raw);
  const ticks = [];
  for (let v = 0; v < max + unit * 0.999; v += unit) ticks.push(v);
  return ticks.length > 1 ? ticks : [0, unit];
}
// Ticks at round numbers of KiB, MiB or GiB.
function niceBytesTicks(max) {
  let scale = 1;
  while (max / scale >= 1024) scale *= 1024;
  return niceTicks(max / scale).map(v => v * scale);
}

// The quantile q of histogram bucket counts (non-cumulative, the last is +Inf) with upper
// bounds `bounds`, interpolated within its bucket as Prometheus' histogram_quantile does.
function quantile(q, counts, bounds) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] > 0 && cumulative + counts[i] >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * ((rank - cumulative) / counts[i]);
    }
    cumulative += counts[i];
  }
  return bounds[bounds.length - 1];
}
const minus = (a, b) => a.map((v, i) => v - (b[i] || 0));
const sum = a => a.reduce((x, y) => x + y, 0);

const charts = {};
const chartBox = document.getElementById("charts");
for (const spec of [
  { id: "requests", title: "Requests per second", note: "answered requests, all workers", format: fmtCount, unit: "requests/s", emptyMax: 10 },
  { id: "latency", title: "Latency", note: "p50, p90, p99 of each second's requests (duration histogram)", format: fmtSeconds, unit: "duration (log scale)", log: true, emptyMax: 0.001 },
  { id: "memory", title: "Memory", note: "process resident set and the allocator's own count", format: fmtBytes, unit: "bytes", ticks: niceBytesTicks, emptyMax: 1 << 20 },
  { id: "fibers", title: "Fibers by state", note: "unfinished fibers now, parked ones by what they wait for", format: fmtCount, unit: "fibers", emptyMax: 10 },
  { id: "connections", title: "Connections", note: "open, and idle between requests", format: fmtCount, unit: "connections", emptyMax: 10 },
  { id: "pressure", title: "Arena overflow and pool misses", note: "per second: arena blocks past the first, arena allocations too large for a block, pool misses", format: fmtCount, unit: "per second", emptyMax: 1 },
]) charts[spec.id] = new Chart(chartBox, spec);

const samples = [];  // {t, raw}: the stats as received, t in server seconds
let series = { requests: [], latency: [], memory: [], fibers: [], connections: [], pressure: [] };
let memoryNames = ["RSS", "allocator"];

function setValue(id, value, text) {
  const e = document.getElementById(id);
  e.dataset.value = value == null ? "" : String(value);
  e.textContent = text;
}

function receive(stats) {
  const t = stats.monotonicSeconds;
  const previous = samples.length ? samples[samples.length - 1].raw : null;
  samples.push({ t, raw: stats });
  while (samples.length > WINDOW_SECONDS + 30) samples.shift();
  document.body.dataset.samples = String(samples.length);
  const f = stats.fibers, parked = f.parked;
  const parkedOther = sum(Object.values(parked)) - parked.read - parked.write - parked.sleep;
  const fiberValues = [f.running + f.runnable, parked.read, parked.write, parked.sleep, parkedOther];
  const m = stats.memory;
  const allocator = m.allocatorBytesInUse != null ? m.allocatorBytesInUse : m.allocatorCommittedBytes;
  memoryNames = ["RSS", m.allocatorBytesInUse != null ? `${stats.allocator} in use` : `${stats.allocator} committed`];
  let rates = { requests: null, p: [null, null, null], overflow: null, large: null, misses: null };
  const dt = previous ? t - previous.monotonicSeconds : 0;
  if (previous && dt > 0 && stats.requests >= previous.requests) {
    rates.requests = (stats.requests - previous.requests) / dt;
    const counts = minus(stats.durations.counts, previous.durations.counts);
    rates.p = [0.5, 0.9, 0.99].map(q => quantile(q, counts, stats.durations.boundsSeconds));
    rates.overflow = (stats.arena.overflowBlocks - previous.arena.overflowBlocks) / dt;
    rates.large = (stats.arena.largeAllocations - previous.arena.largeAllocations) / dt;
    rates.misses = (sum(Object.values(stats.poolMisses)) - sum(Object.values(previous.poolMisses))) / dt;
  }
  series.requests.push({ t, values: [rates.requests] });
  series.latency.push({ t, values: rates.p });
  series.memory.push({ t, values: [m.residentBytes, allocator] });
  series.fibers.push({ t, values: fiberValues });
  series.connections.push({ t, values: [stats.connections.open, stats.connections.idle] });
  series.pressure.push({ t, values: [rates.overflow, rates.large, rates.misses] });
  for (const key in series) while (series[key].length && series[key][0].t < t - WINDOW_SECONDS - 5) series[key].shift();

  setValue("rps", rates.requests, fmtCount(rates.requests));
  setValue("p50", rates.p[0], fmtSeconds(rates.p[0]));
  setValue("p90", rates.p[1], fmtSeconds(rates.p[1]));
  setValue("p99", rates.p[2], fmtSeconds(rates.p[2]));
  setValue("requests-total", stats.requests, fmtCount(stats.requests));
  setValue("connections-open", stats.connections.open, fmtCount(stats.connections.open));
  setValue("fibers-live", sum(fiberValues), fmtCount(sum(fiberValues)));
  setValue("rss", m.residentBytes, fmtBytes(m.residentBytes));
  document.getElementById("server").textContent =
    `${stats.backend || "?"} backend · ${stats.workers} worker${stats.workers === 1 ? "" : "s"} · ${stats.allocator}`;
  drawRoutes();
  drawCharts();
}

function drawCharts() {
  charts.requests.draw(series.requests, ["requests/s"]);
  charts.latency.draw(series.latency, ["p50", "p90", "p99"]);
  charts.memory.draw(series.memory, memoryNames);
  charts.fibers.draw(series.fibers, ["runnable", "parked: read", "parked: write", "parked: sleep", "parked: other"]);
  charts.connections.draw(series.connections, ["open", "idle"]);
  charts.pressure.draw(series.pressure, ["arena overflow blocks", "large arena allocations", "pool misses"]);
}

// The routes over the last ROUTE_WINDOW_SECONDS (or the samples there are).
function drawRoutes() {
  const latest = samples[samples.length - 1];
  let base = samples[0];
  for (const s of samples) if (s.t <= latest.t - ROUTE_WINDOW_SECONDS) base = s;
  const dt = latest.t - base.t;
  const before = new Map(base.raw.routes.map(r => [r.route, r]));
  const bounds = latest.raw.durations.boundsSeconds;
  const rows = latest.raw.routes.map(r => {
    const old = before.get(r.route);
    const counts = old ? minus(r.counts, old.counts) : r.counts.slice();
    const n = sum(counts), seconds = r.sumSeconds - (old ? old.sumSeconds : 0);
    return { route: r.route, total: sum(r.counts), rate: dt > 0 ? n / dt : null, n,
             mean: n > 0 ? seconds / n : null, p50: quantile(0.5, counts, bounds), p99: quantile(0.99, counts, bounds) };
  }).sort((a, b) => (b.rate || 0) - (a.rate || 0) || b.total - a.total).slice(0, ROUTE_ROWS);
  document.getElementById("routes-window").textContent =
    dt > 0 ? `· over the last ${Math.round(dt)} s` : "· totals since start (rates after the second sample)";
  const body = document.getElementById("routes");
  if (!rows.length) { body.innerHTML = `<tr><td class="empty" colspan="7">No requests yet.</td></tr>`; return; }
  const top = Math.max(...rows.map(r => r.rate || 0), 1e-9);
  body.innerHTML = "";
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.route = r.route;
    tr.dataset.rate = r.rate == null ? "" : String(r.rate);
    tr.dataset.total = String(r.total);
    const cells = [r.route, fmtCount(r.rate), "", fmtSeconds(r.mean), fmtSeconds(r.p50), fmtSeconds(r.p99), fmtCount(r.total)];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 2) { td.className = "bar"; const bar = document.createElement("div"); bar.style.width = `${100 * (r.rate || 0) / top}%`; td.appendChild(bar); }
      else td.textContent = text;
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
}

let failures = 0;
async function poll() {
  const started = Date.now();
  try {
    const response = await fetch("stats", { cache: "no-store" });
    if (!response.ok) throw new Error(`${response.status} ${(await response.text()).trim()}`);
    receive(await response.json());
    failures = 0;
    const status = document.getElementById("status");
    status.className = "live";
    status.textContent = `updated ${new Date().toLocaleTimeString()} · every ${POLL_MS / 1000} s`;
  } catch (error) {
    failures++;
    const status = document.getElementById("status");
    status.className = "stale";
    status.textContent = `no answer (${error.message}); retrying`;
  }
  setTimeout(poll, Math.max(100, POLL_MS - (Date.now() - started)));
}
window.addEventListener("resize", drawCharts);
drawCharts();
poll();
</script>
</body>
</html>
"""#
}
