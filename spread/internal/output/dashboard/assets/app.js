// spread's dashboard page: the same code draws the live page (data from
// Server-Sent Events) and the exported report (data embedded below).
// Charts are plain SVG built here; see the package doc for why.
(function () {
  "use strict";
  var palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];
  var state = { meta: null, points: {}, proto: "*", mode: "*", podColor: {}, podOrder: [] };
  var NS = "http://www.w3.org/2000/svg";
  var labelled = { "scale": 1, "pod-added": 1, "pod-removed": 1, "pod-killed": 1, "pod-draining": 1, "rolling-restart": 1 };

  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v, d) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    return v.toFixed(d === undefined ? 1 : d);
  }
  function si(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    if (a >= 10 || v === 0) return v.toFixed(0);
    return v.toPrecision(2);
  }

  // nice rounds v up to 1, 2, 2.5 or 5 times a power of ten.
  function nice(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
  }
  // niceMax is the top of an axis of four round steps above v.
  function niceMax(v) { return 4 * nice(v / 4); }

  // chart draws one line chart (or stacked areas) with the lab's markers.
  // spec: {id, title, unit, x: [s], series: [{name, color, y: [], dash}], stacked, yMax}
  function chart(spec) {
    var W = 620, H = 250, L = 54, R = 12, T = 26, B = 34;
    var svg = el("svg", { "class": "chart", "data-chart": spec.id, width: W, height: H, viewBox: "0 0 " + W + " " + H });
    el("text", { x: L, y: 16, "class": "ctitle" }, svg).textContent = spec.title;
    var x = spec.x, n = x.length;
    var xMax = Math.max(n ? x[n - 1] + state.meta.period_s : 1, (state.meta.done ? state.meta.end_s : state.meta.now_s) || 0, 1);
    var sums = new Array(n).fill(0), yTop = 0;
    // A null value is a gap (no requests to measure); stacked, it is 0.
    var drawn = spec.series.map(function (s) {
      var lo = sums.slice(), hi = s.y.map(function (v, i) { return spec.stacked ? lo[i] + (v || 0) : v; });
      if (spec.stacked) sums = hi.slice();
      hi.forEach(function (v) { if (v !== null && v > yTop) yTop = v; });
      return { s: s, lo: lo, hi: hi };
    });
    var yMax = spec.yMax || niceMax(yTop * 1.05);
    var px = function (v) { return L + (W - L - R) * v / xMax; };
    var py = function (v) { return T + (H - T - B) * (1 - v / yMax); };
    for (var i = 0; i <= 4; i++) {
      var yv = yMax * i / 4;
      el("line", { "class": "grid", x1: L, x2: W - R, y1: py(yv), y2: py(yv) }, svg);
      el("text", { "class": "ytick", x: L - 4, y: py(yv) + 4 }, svg).textContent = si(yv);
    }
    var xStep = nice(xMax / 6);
    for (var xv = 0; xv <= xMax + 1e-9; xv += xStep) {
      el("text", { "class": "xtick", x: px(xv), y: H - B + 14 }, svg).textContent = si(xv) + "s";
    }
    el("text", { x: 6, y: T - 6 }, svg).textContent = spec.unit;
    if (!n) {
      el("text", { "class": "empty", x: W / 2, y: H / 2 }, svg).textContent = "no data yet";
    }
    // Each value is drawn at the middle of its period.
    var mid = function (i) { return px(x[i] + Math.min(state.meta.period_s, xMax - x[i]) / 2); };
    drawn.forEach(function (d) {
      if (!n) return;
      var pts = [], pen = "M";
      for (var i = 0; i < n; i++) {
        if (d.hi[i] === null || d.hi[i] === undefined) { pen = "M"; continue; }
        pts.push(pen + mid(i).toFixed(1) + "," + py(d.hi[i]).toFixed(1));
        pen = "L";
      }
      if (spec.stacked) {
        var area = pts.join("");
        for (var j = n - 1; j >= 0; j--) area += "L" + mid(j).toFixed(1) + "," + py(d.lo[j]).toFixed(1);
        el("path", { "class": "area", "data-series": d.s.name, d: area + "Z", fill: d.s.color, "fill-opacity": 0.35, stroke: "none" }, svg);
      }
      var attrs = { "class": "series", "data-series": d.s.name, d: pts.join(""), fill: "none", stroke: d.s.color, "stroke-width": 1.8 };
      if (d.s.dash) attrs["stroke-dasharray"] = "5 3";
      el("path", attrs, svg);
    });
    // Every lab event is a line (its label on hover); the ones that change
    // the endpoints are labelled, on staggered rows so neighbours stay legible.
    var row = 0;
    (state.meta.markers || []).forEach(function (m) {
      if (m.t < 0 || m.t > xMax) return;
      var g = el("g", { "class": "marker " + m.kind, "data-kind": m.kind }, svg);
      el("title", {}, g).textContent = fmt(m.t) + " s: " + m.label;
      el("line", { x1: px(m.t), x2: px(m.t), y1: T, y2: H - B }, g);
      if (!labelled[m.kind]) return;
      el("text", { x: px(m.t) + 3, y: T + 10 + 11 * (row++ % 3) }, g).textContent = m.label;
    });
    // Legend under the axis.
    var lx = L;
    spec.series.forEach(function (s) {
      if (lx > W - 60) return;
      el("rect", { x: lx, y: H - 12, width: 10, height: 3, fill: s.color }, svg);
      var t = el("text", { x: lx + 14, y: H - 8 }, svg);
      t.textContent = s.name;
      lx += 22 + 6.5 * s.name.length;
    });
    return svg;
  }

  // series builds the x axis (every period from 0 to the last) and the
  // values of f(point, seconds covered) per period.
  function periods() {
    var idx = Object.keys(state.points).map(Number);
    if (!idx.length) return [];
    var last = Math.max.apply(null, idx), out = [];
    for (var i = 0; i <= last; i++) out.push(state.points[i] || { i: i, t: i * state.meta.period_s, g: {}, iters: 0, sent: 0, recv: 0 });
    // A finished run's last period holding only the final moments (the
    // graceful stop) would draw a cliff that the load never had.
    var tail = out[out.length - 1];
    if (state.meta.done && out.length > 1 && state.meta.end_s - tail.t < state.meta.period_s / 4) out.pop();
    // Live, the running period is still filling: drawn, it would dip.
    if (!state.meta.done) {
      while (out.length && out[out.length - 1].t + state.meta.period_s > state.meta.now_s) out.pop();
    }
    return out;
  }
  // width is the seconds a period covered: the running one (or the last
  // one, at the end) only up to the last sample, at least a quarter period
  // so that a sliver cannot blow a rate up.
  function width(p) {
    var P = state.meta.period_s, end = state.meta.end_s;
    if (end > p.t && end < p.t + P) return Math.max(end - p.t, P / 4);
    return P;
  }
  function grp(p, key) {
    var g = (p.g || {})[key || (state.proto + "|" + state.mode)];
    return g || { reqs: 0, failed: 0, p50: 0, p90: 0, p95: 0, p99: 0, phase: {}, pods: {} };
  }

  function podColor(name) {
    if (!(name in state.podColor)) {
      state.podColor[name] = palette[state.podOrder.length % palette.length];
      state.podOrder.push(name);
    }
    return state.podColor[name];
  }

  // pods lists the pods of the current filter in order of first appearance.
  function pods() {
    var seen = state.meta.seen || {}, total = grp({ g: state.meta.total });
    var names = Object.keys(total.pods);
    names.sort(function (a, b) {
      var fa = (seen[a] || {}).first_s || 0, fb = (seen[b] || {}).first_s || 0;
      return fa - fb || (a < b ? -1 : 1);
    });
    names.forEach(podColor);
    return names;
  }

  function td(tr, text, cls) {
    var c = document.createElement("td");
    c.textContent = text;
    if (cls) c.className = cls;
    tr.appendChild(c);
    return c;
  }

  function podTables(ps, per) {
    var total = grp({ g: state.meta.total }), seen = state.meta.seen || {};
    var sum = 0;
    ps.forEach(function (p) { sum += total.pods[p].reqs; });
    var last = per.length ? per[per.length - 1] : null;
    ["overview-pods", "pods-table"].forEach(function (id) {
      var tb = document.querySelector("#" + id + " tbody");
      tb.textContent = "";
      ps.forEach(function (p) {
        var t = total.pods[p], s = seen[p] || {};
        var tr = document.createElement("tr");
        tr.setAttribute("data-pod", p);
        var sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.background = podColor(p);
        td(tr, "").appendChild(sw);
        td(tr, p);
        td(tr, String(t.reqs), "num").setAttribute("data-key", "requests");
        td(tr, sum ? fmt(100 * t.reqs / sum) + "%" : "–", "num").setAttribute("data-key", "share");
        if (id === "overview-pods") {
          var now = last ? ((grp(last).pods[p] || {}).reqs || 0) / width(last) : 0;
          td(tr, fmt(now), "num");
        } else {
          td(tr, String(t.failed || 0), "num");
          td(tr, String(t.conns || 0), "num").setAttribute("data-key", "conns");
          td(tr, fmt(t.p50), "num");
          td(tr, fmt(t.p95), "num");
        }
        td(tr, s.first_s !== undefined ? fmt(s.first_s) + "s" : "–", "num");
        td(tr, s.last_s !== undefined ? fmt(s.last_s) + "s" : "–", "num");
        tb.appendChild(tr);
      });
    });
  }

  function fill(id, charts) {
    var box = document.getElementById(id);
    box.textContent = "";
    charts.forEach(function (c) { box.appendChild(chart(c)); });
  }

  function render() {
    if (!state.meta) return;
    var m = state.meta;
    document.getElementById("title").textContent = m.title;
    document.title = m.title;
    var st = document.getElementById("status");
    if (m.done) { st.dataset.state = "done"; st.textContent = "finished · " + fmt(m.end_s) + " s"; }
    else if (st.dataset.state !== "lost") { st.dataset.state = "live"; st.textContent = "live · " + fmt(m.now_s, 0) + " s"; }
    options("f-proto", m.protos, "proto");
    options("f-mode", m.modes, "mode");

    var per = periods(), x = per.map(function (p) { return p.t; });
    var ps = pods();
    var rate = function (f) { return per.map(function (p) { return f(p) / width(p); }); };
    var val = function (f) { return per.map(f); };
    podTables(ps, per);

    var podRPS = ps.map(function (name) {
      return { name: name, color: podColor(name), y: rate(function (p) { return (grp(p).pods[name] || {}).reqs || 0; }) };
    });
    var totalRPS = rate(function (p) { return grp(p).reqs; });
    var stackedPods = { id: "pods-rps", title: "requests/s per pod (stacked)", unit: "req/s", x: x, series: podRPS, stacked: true };
    fill("charts-overview", [
      stackedPods,
      { id: "vus", title: "virtual users", unit: "VUs", x: x, series: [
        { name: "vus", color: palette[0], y: val(function (p) { return p.vus || 0; }) },
        { name: "vus_max", color: "#777777", dash: true, y: val(function (p) { return p.vus_max || 0; }) }] },
      { id: "rps", title: "requests/s (http_reqs)", unit: "req/s", x: x, series: [
        { name: "requests", color: palette[0], y: totalRPS },
        { name: "failed", color: "#C00000", y: rate(function (p) { return grp(p).failed; }) }] },
      { id: "data", title: "data (data_sent, data_received)", unit: "bytes/s", x: x, series: [
        { name: "received", color: palette[2], y: rate(function (p) { return p.recv; }) },
        { name: "sent", color: palette[3], y: rate(function (p) { return p.sent; }) }] },
      { id: "iterations", title: "iterations/s", unit: "it/s", x: x, series: [
        { name: "iterations", color: palette[4], y: rate(function (p) { return p.iters; }) }] }
    ]);
    fill("charts-timings", [
      { id: "duration", title: "http_req_duration", unit: "ms", x: x, series: ["p50", "p90", "p95", "p99"].map(function (q, i) {
        return { name: q, color: palette[i], y: val(function (p) { var g = grp(p); return g.reqs ? g[q] : null; }) };
      }) },
      { id: "phases", title: "request phases, p95", unit: "ms", x: x, series: [
        ["http_req_blocked", "blocked"], ["http_req_connecting", "connecting"],
        ["http_req_tls_handshaking", "TLS"], ["http_req_waiting", "waiting"]].map(function (ph, i) {
        return { name: ph[1], color: palette[i], y: val(function (p) { var v = grp(p).phase[ph[0]]; return v === undefined ? null : v; }) };
      }) }
    ]);
    fill("charts-pods", [
      stackedPods,
      { id: "pods-share", title: "share of requests per pod", unit: "%", x: x, yMax: 100, series: ps.map(function (name) {
        return { name: name, color: podColor(name), y: val(function (p) {
          var g = grp(p);
          return g.reqs ? 100 * ((g.pods[name] || {}).reqs || 0) / g.reqs : null;
        }) };
      }) },
      { id: "pods-latency", title: "latency per pod, p95 (http_req_duration)", unit: "ms", x: x, series: ps.map(function (name) {
        return { name: name, color: podColor(name), y: val(function (p) { var q = grp(p).pods[name]; return q && q.reqs ? q.p95 : null; }) };
      }) },
      { id: "pods-conns", title: "connections opened per pod", unit: "conns/s", x: x, series: ps.map(function (name) {
        return { name: name, color: podColor(name), y: rate(function (p) { return (grp(p).pods[name] || {}).conns || 0; }) };
      }) }
    ]);
  }

  function options(id, values, key) {
    var sel = document.getElementById(id);
    var have = Array.prototype.map.call(sel.options, function (o) { return o.value; });
    (values || []).forEach(function (v) {
      if (have.indexOf(v) < 0) {
        var o = document.createElement("option");
        o.value = v;
        o.textContent = v;
        sel.appendChild(o);
      }
    });
    sel.onchange = function () { state[key] = sel.value; render(); };
  }

  function apply(msg, replace) {
    if (replace) state.points = {};
    state.meta = msg.meta;
    (msg.points || []).forEach(function (p) { state.points[p.i] = p; });
    render();
  }

  Array.prototype.forEach.call(document.querySelectorAll("nav button"), function (b) {
    b.onclick = function () {
      document.querySelectorAll("nav button").forEach(function (o) { o.classList.toggle("active", o === b); });
      document.querySelectorAll(".tab").forEach(function (t) { t.classList.toggle("active", t.id === "tab-" + b.dataset.tab); });
    };
  });

  var embedded = JSON.parse(document.getElementById("spread-data").textContent);
  if (embedded) {
    document.getElementById("report-link").remove();
    apply(embedded, true);
    return;
  }
  var es = new EventSource("events");
  es.addEventListener("snapshot", function (e) { apply(JSON.parse(e.data), true); });
  es.addEventListener("update", function (e) { apply(JSON.parse(e.data), false); });
  es.addEventListener("done", function () {
    es.close();
    if (state.meta) { state.meta.done = true; render(); }
  });
  es.onerror = function () {
    if (state.meta && state.meta.done) return;
    var st = document.getElementById("status");
    st.dataset.state = "lost";
    st.textContent = "connection lost, retrying…";
  };
  es.onopen = function () {
    var st = document.getElementById("status");
    if (st.dataset.state === "lost") st.dataset.state = "live";
  };
})();
