/* gengen flow explorer: RealNVP flows run in the page, no Python kernel needed.
 * Needs explorer-core.js (window.GengenCore) and explorer.css.
 *
 * The weights come from flow_*.js files (written by gengen_lib/export/flow.py), which assign
 * window.GENGEN_FLOWS[name] = {couplings, logit_alpha, extras, ...}; every array is
 * {shape, data: base64 of little-endian float32 (or float16) bytes}. Direction convention of the
 * course: forward maps data to noise, z = f(x); inverse maps noise to data.
 *
 * Each coupling reads its kept coordinates and moves its free ones:
 *   h = relu(W2 relu(W1 x[kept] + b1) + b2),  t = W4 relu(W3 h + b3) + b4,
 *   s = s_scale * tanh(W6 relu(W5 h + b5) + b6)   (0 without a learned scale),
 *   forward: y[free] = x[free] * exp(s) + t, log|det| += sum(s);  inverse: x[free] = (y[free] - t) * exp(-s).
 *
 * Two kinds of root:
 *   <div class="gengen-explorer" data-live-explorer data-flow="moons">   the 2-d flow, forward:
 *     its density p(x) on a grid, the grid and data pushed through the first k couplings, and
 *     one point x (sliders or drag) with z = f(x), log|det df/dx| and log p(x) = log N(z) + log|det|.
 *   <div class="gengen-explorer" data-live-explorer data-flow="mnist" data-src="URL" data-megabytes="M">
 *     the MNIST flow, inverse: 16 samples x = f^-1(T * noise) at a temperature T; the weights
 *     (URL, M MB) load only when the reader asks for them.
 * Each root counts its redraws in data-draws and keeps the last one's milliseconds in data-draw-ms.
 * Work that takes long (the density rasters, the warp, the weights' decoding, the samples) runs in
 * slices (GengenCore.inSlices) so that the page never stops responding; data-busy is set meanwhile.
 */
(function () {
  "use strict";

  var core = window.GengenCore;
  var array = core.array, el = core.el, fmt = core.fmt;
  var LOG_2PI = Math.log(2 * Math.PI);

  // ---------------------------------------------------------------------------------------
  // The model
  // ---------------------------------------------------------------------------------------

  var models = {};

  function coupling(c, doc) {
    function layers(list) { return list.map(function (l) { return core.layer(l, doc.dtype); }); }
    return {
      kept: c.kept, free: c.free, trunk: layers(c.trunk), tHead: layers(c.t_head),
      sHead: doc.learned_scale ? layers(c.s_head) : null,
      sScale: doc.learned_scale ? array(c.s_scale, doc.dtype) : null
    };
  }

  // The decoding of flow `name` as steps, one per coupling (the MNIST flow's 30 MB take a while):
  // run them all (model) or in slices (mountMnist); the last one caches the model.
  function decodeSteps(name) {
    var doc = core.documentOf("GENGEN_FLOWS", name, "flow_" + name + ".js"), extras = {};
    for (var key in doc.extras) extras[key] = array(doc.extras[key], "float32");
    var m = {doc: doc, dim: doc.dim, alpha: doc.logit_alpha, extras: extras, couplings: []};
    return doc.couplings.map(function (c) { return function () { m.couplings.push(coupling(c, doc)); }; })
      .concat([function () { models[name] = m; }]);
  }

  function model(name) {
    if (!models[name]) decodeSteps(name).forEach(function (step) { step(); });
    return models[name];
  }

  function linear(l, x, n, relu) { return core.dense(l, x, n, relu ? core.relu : null); }

  // Kept coordinates (n * kept) -> {s, t}, both (n * free).
  function scaleAndShift(c, kept, n) {
    var h = linear(c.trunk[1], linear(c.trunk[0], kept, n, true), n, true);
    var t = linear(c.tHead[1], linear(c.tHead[0], h, n, true), n, false);
    var s = new Float64Array(t.length);
    if (c.sHead) {
      var raw = linear(c.sHead[1], linear(c.sHead[0], h, n, true), n, false), nf = c.free.length;
      for (var i = 0; i < s.length; i++) s[i] = c.sScale[i % nf] * Math.tanh(raw[i]);
    }
    return {s: s, t: t};
  }

  function gather(x, n, dim, index) {
    var out = new Float64Array(n * index.length);
    for (var r = 0; r < n; r++) for (var i = 0; i < index.length; i++) out[r * index.length + i] = x[r * dim + index[i]];
    return out;
  }

  // One coupling on n rows x (n * dim), in place; backwards inverts it, forward adds each row's log|det| to logdet.
  function couple(c, x, n, dim, backwards, logdet) {
    var st = scaleAndShift(c, gather(x, n, dim, c.kept), n), nf = c.free.length;
    for (var r = 0; r < n; r++) {
      for (var i = 0; i < nf; i++) {
        var q = r * dim + c.free[i], s = st.s[r * nf + i], t = st.t[r * nf + i];
        x[q] = backwards ? (x[q] - t) * Math.exp(-s) : x[q] * Math.exp(s) + t;
        if (!backwards) logdet[r] += s;
      }
    }
  }

  // Data -> noise through the logit step (if any) and the first `upto` couplings (all by default):
  // n rows x (n * dim) -> {z (n * dim), logdet (n)}.
  function forward(m, x, n, upto) {
    var dim = m.dim, z = Float64Array.from(x), logdet = new Float64Array(n);
    if (m.alpha !== null) {
      var a = m.alpha, d0 = dim * Math.log(1 - 2 * a);
      for (var r = 0; r < n; r++) {
        logdet[r] = d0;
        for (var i = 0; i < dim; i++) {
          var p = a + (1 - 2 * a) * z[r * dim + i], lp = Math.log(p), lq = Math.log1p(-p);
          z[r * dim + i] = lp - lq;
          logdet[r] -= lp + lq;
        }
      }
    }
    var last = upto === undefined ? m.couplings.length : upto;
    for (var l = 0; l < last; l++) couple(m.couplings[l], z, n, dim, false, logdet);
    return {z: z, logdet: logdet};
  }

  // Noise -> data, the layers' inverses in reverse order, as small steps (one coupling on ROWS rows
  // each): n rows z (n * dim) -> {x (n * dim, filled in place by the steps), steps}.
  var ROWS = 2;
  function inverseStep(c, x, dim, a, b) {
    return function () { couple(c, x.subarray(a * dim, b * dim), b - a, dim, true, null); };
  }
  function inverseSteps(m, z, n) {
    var dim = m.dim, x = Float64Array.from(z), steps = [];
    m.couplings.slice().reverse().forEach(function (c) {
      for (var r0 = 0; r0 < n; r0 += ROWS) steps.push(inverseStep(c, x, dim, r0, Math.min(r0 + ROWS, n)));
    });
    if (m.alpha !== null) {
      steps.push(function () {
        for (var i = 0; i < x.length; i++) x[i] = (1 / (1 + Math.exp(-x[i])) - m.alpha) / (1 - 2 * m.alpha);
      });
    }
    return {x: x, steps: steps};
  }

  // Noise -> data at once: n rows z (n * dim) -> x (n * dim).
  function inverse(m, z, n) {
    var job = inverseSteps(m, z, n);
    job.steps.forEach(function (step) { step(); });
    return job.x;
  }

  // log N(z; 0, I) of each of the n rows of z (n * dim).
  function logNormal(z, n, dim) {
    var out = new Float64Array(n);
    for (var r = 0; r < n; r++) {
      var s = 0;
      for (var i = 0; i < dim; i++) s += z[r * dim + i] * z[r * dim + i];
      out[r] = -0.5 * (s + dim * LOG_2PI);
    }
    return out;
  }

  // log p(x) = log N(f(x); 0, I) + log|det df/dx| for n rows x (n * dim).
  function logProb(m, x, n) {
    var f = forward(m, x, n), lp = logNormal(f.z, n, m.dim);
    for (var r = 0; r < n; r++) lp[r] += f.logdet[r];
    return lp;
  }

  // ---------------------------------------------------------------------------------------
  // Shared page helpers
  // ---------------------------------------------------------------------------------------

  var counter = 0;
  var slider = core.slider, redrawer = core.redrawer, magma = core.magma;

  // ---------------------------------------------------------------------------------------
  // The two-moons flow, forward
  // ---------------------------------------------------------------------------------------

  var MOONS = {
    side: 320,        // canvas pixels
    density: 3,       // the density panel shows [-3, 3]^2, as the chapter's figure
    grids: [48, 96],  // density evaluated on grid x grid points: a coarse raster first, then a fine one
    warp: 4,          // the warp panel shows [-4, 4]^2, as the chapter's coupling figure
    lines: 11,        // grid lines per direction, over [-2.5, 2.5]
    lineExtent: 2.5,
    linePoints: 80,   // points per grid line
    chunk: 128,       // points pushed through one coupling per step of the background work
    limit: 3,         // the point's sliders
    step: 0.01
  };

  // The grid lines in data space, one after the other: 2 * lines lines of linePoints points (x1, x2).
  function gridLines() {
    var P = MOONS.linePoints, E = MOONS.lineExtent, N = 2 * MOONS.lines, out = new Float64Array(2 * N * P);
    for (var i = 0; i < MOONS.lines; i++) {
      var v = -E + 2 * E * i / (MOONS.lines - 1);
      for (var p = 0; p < P; p++) {
        var t = -E + 2 * E * p / (P - 1), across = 2 * (2 * i * P + p), along = 2 * ((2 * i + 1) * P + p);
        out[across] = t; out[across + 1] = v;
        out[along] = v; out[along + 1] = t;
      }
    }
    return out;
  }

  // One coupling on the points a..b of the stage being built (state.next), in place.
  function chunkStep(c, state, a, b) {
    return function () { couple(c, state.next.subarray(2 * a, 2 * b), b - a, 2, false, new Float64Array(b - a)); };
  }

  // Points (x1, x2, x1, x2, ...) pushed through the couplings, as steps of MOONS.chunk points:
  // when they have run, stages[k] holds the points after the first k couplings.
  function warpSteps(m, points, stages) {
    var steps = [], n = points.length / 2, state = {};
    stages.push(points);
    m.couplings.forEach(function (c) {
      steps.push(function () { state.next = Float64Array.from(stages[stages.length - 1]); });
      for (var a = 0; a < n; a += MOONS.chunk) steps.push(chunkStep(c, state, a, Math.min(a + MOONS.chunk, n)));
      steps.push(function () { stages.push(state.next); });
    });
    return steps;
  }

  // log p(x) of raster row i (of G) into lp[i * G ...].
  function rowStep(m, G, lp, i) {
    var L = MOONS.density;
    return function () {
      var x = new Float64Array(2 * G);
      for (var j = 0; j < G; j++) {
        x[2 * j] = -L + 2 * L * (j + 0.5) / G;
        x[2 * j + 1] = L - 2 * L * (i + 0.5) / G;
      }
      lp.set(logProb(m, x, G), i * G);
    };
  }

  // p(x) on a G x G raster over [-limit, limit]^2 as steps, one raster row each; the last one calls
  // done(image): an offscreen canvas with the colour map (linear in p, from 0 to its largest value on
  // the raster), row 0 at the top (x2 = +limit).
  function densitySteps(m, G, done) {
    var lp = new Float64Array(G * G), steps = [];
    for (var i = 0; i < G; i++) steps.push(rowStep(m, G, lp, i));
    steps.push(function () {
      var max = -Infinity;
      for (var q = 0; q < lp.length; q++) max = Math.max(max, lp[q]);
      var off = el("canvas", {width: G, height: G}), ctx = off.getContext("2d"), img = ctx.createImageData(G, G);
      for (var r = 0; r < lp.length; r++) {
        var c = magma(Math.exp(lp[r] - max));
        img.data[4 * r] = c[0]; img.data[4 * r + 1] = c[1]; img.data[4 * r + 2] = c[2]; img.data[4 * r + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      done(off);
    });
    return steps;
  }

  // The point's way through the flow: path[k] = h_k (path[0] = x, path[L] = z), logdets[k] so far.
  function pointPath(m, x) {
    var path = [x], logdets = [0];
    for (var l = 1; l <= m.couplings.length; l++) {
      var f = forward(m, x, 1, l);
      path.push([f.z[0], f.z[1]]);
      logdets.push(f.logdet[0]);
    }
    return {path: path, logdets: logdets};
  }

  // [-extent, extent]^2 -> canvas pixels (side S), x2 upwards.
  function toPx(extent) {
    var S = MOONS.side;
    return function (a, b) { return [(a + extent) / (2 * extent) * S, (extent - b) / (2 * extent) * S]; };
  }
  var densPx = toPx(MOONS.density), warpPx = toPx(MOONS.warp);

  function marker(ctx, p, fill) {
    ctx.beginPath();
    ctx.arc(p[0], p[1], 6, 0, 2 * Math.PI);
    ctx.fillStyle = fill;
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#000";
    ctx.stroke();
  }

  function polyline(ctx, points, from, count) {
    ctx.beginPath();
    for (var p = 0; p < count; p++) {
      var q = warpPx(points[2 * (from + p)], points[2 * (from + p) + 1]);
      if (p === 0) ctx.moveTo(q[0], q[1]); else ctx.lineTo(q[0], q[1]);
    }
    ctx.stroke();
  }

  // The density raster (grey until the first one is ready) and the point x.
  function drawDensity(canvas, image, x) {
    var ctx = canvas.getContext("2d"), S = MOONS.side;
    if (image) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(image, 0, 0, S, S);
    } else {
      ctx.fillStyle = "#ddd";
      ctx.fillRect(0, 0, S, S);
    }
    marker(ctx, densPx(x[0], x[1]), "#fff");
  }

  // After k couplings: the base density's circles (k = L), the grid lines and data (once stage k is
  // computed: stage = flat points, lines first) and the point's path so far.
  function drawWarp(canvas, stage, nLinePoints, k, L, path) {
    var ctx = canvas.getContext("2d"), S = MOONS.side, P = MOONS.linePoints;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, S, S);
    if (k === L) {
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = "#2ca02c";
      ctx.lineWidth = 1.5;
      [1, 2].forEach(function (radius) {
        ctx.beginPath();
        ctx.arc(S / 2, S / 2, radius / (2 * MOONS.warp) * S, 0, 2 * Math.PI);
        ctx.stroke();
      });
      ctx.setLineDash([]);
    }
    if (stage) {
      ctx.strokeStyle = "#888";
      ctx.lineWidth = 0.7;
      for (var from = 0; from < nLinePoints; from += P) polyline(ctx, stage, from, P);
      ctx.fillStyle = "rgba(31, 119, 180, 0.55)";
      for (var i = nLinePoints; i < stage.length / 2; i++) {
        var q = warpPx(stage[2 * i], stage[2 * i + 1]);
        ctx.fillRect(q[0] - 1, q[1] - 1, 2, 2);
      }
    }
    ctx.strokeStyle = "#d62728";
    ctx.lineWidth = 2;
    polyline(ctx, [].concat.apply([], path.slice(0, k + 1)), 0, k + 1);
    marker(ctx, warpPx(path[k][0], path[k][1]), "#d62728");
  }

  // The two panels, the point's and the stage's sliders, and the read-out table.
  function moonsLayout(root, L) {
    var id = "gf" + (++counter), S = MOONS.side, ui = {};
    root.textContent = "";
    root.appendChild(el("h4", {}, root.getAttribute("data-title") || "A flow on two moons"));
    var body = root.appendChild(el("div", {"class": "gx-body"}));
    var left = body.appendChild(el("figure", {"class": "gx-figure"}));
    ui.density = left.appendChild(el("canvas", {
      width: S, height: S, "class": "gx-drag", role: "img",
      "aria-label": "the learned density p(x) as a heat map, with the chosen point x; drag to move it"
    }));
    left.appendChild(el("figcaption", {}, "data space: p(x) on [\u22123, 3]\u00b2; drag the point"));
    var right = body.appendChild(el("figure", {"class": "gx-figure"}));
    ui.warp = right.appendChild(el("canvas", {
      width: S, height: S, role: "img",
      "aria-label": "a grid and the data pushed through the first k couplings, with the point's path"
    }));
    ui.caption = right.appendChild(el("figcaption"));
    var panel = root.appendChild(el("div", {"class": "gx-sliders gx-flow-controls"}));
    ui.x1 = slider(panel, id + "-x1", "x\u2081", -MOONS.limit, MOONS.limit, MOONS.step, 0.5);
    ui.x2 = slider(panel, id + "-x2", "x\u2082", -MOONS.limit, MOONS.limit, MOONS.step, 0.25);
    ui.k = slider(panel, id + "-k", "k", 0, L, 1, L);
    ui.x1.input.setAttribute("data-role", "x1");
    ui.x2.input.setAttribute("data-role", "x2");
    ui.k.input.setAttribute("data-role", "stage");
    var table = root.appendChild(el("table", {"class": "gx-readout"}));
    function readRow(key, label) {
      var tr = table.appendChild(el("tr"));
      tr.appendChild(el("th", {}, label));
      return tr.appendChild(el("td", {"data-q": key}));
    }
    ui.out = {
      x: readRow("x", "x"), h: readRow("h", ""), z: readRow("z", "z = f(x)"), logN: readRow("logN", "log N(z; 0, I)"),
      logdet: readRow("logdet", "+ log |det \u2202f/\u2202x|"), logp: readRow("logp", "= log p(x)")
    };
    if (root.getAttribute("data-subtitle")) root.appendChild(el("p", {"class": "gx-sub"}, root.getAttribute("data-subtitle")));
    return ui;
  }

  function pair(v) { return "(" + fmt(v[0]) + ", " + fmt(v[1]) + ")"; }

  // The sliders' values and the change of variables of the point x after k of L couplings.
  function showReadout(ui, x, k, L, way) {
    var z = way.path[L], logN = logNormal(Float64Array.from(z), 1, 2)[0], logdet = way.logdets[L], out = ui.out;
    ui.x1.output.textContent = fmt(x[0]);
    ui.x2.output.textContent = fmt(x[1]);
    ui.k.output.textContent = k + " / " + L;
    out.x.textContent = pair(x);
    out.h.parentNode.hidden = k === 0 || k === L;
    out.h.previousSibling.textContent = "h" + sub(k) + ", log|det| so far";
    out.h.textContent = pair(way.path[k]) + ", " + fmt(way.logdets[k], 3);
    out.z.textContent = pair(z);
    out.logN.textContent = fmt(logN, 3);
    out.logdet.textContent = fmt(logdet, 3);
    out.logp.textContent = fmt(logN + logdet, 3) + "  (p = " + Math.exp(logN + logdet).toFixed(3) + ")";
    ui.caption.textContent = k === 0 ? "k = 0: the data space and its grid"
      : k === L ? "k = " + L + ": noise space, z = f(x); circles at |z| = 1, 2"
      : "after the first " + k + " of " + L + " couplings";
  }

  // Dragging on the density panel sets both of the point's sliders, then calls moved().
  function enableDrag(ui, moved) {
    var canvas = ui.density, dragging = false;
    function moveTo(ev) {
      var r = canvas.getBoundingClientRect(), D = MOONS.density;
      var a = -D + 2 * D * (ev.clientX - r.left) / r.width, b = D - 2 * D * (ev.clientY - r.top) / r.height;
      ui.x1.input.value = Math.min(Math.max(a, -MOONS.limit), MOONS.limit);
      ui.x2.input.value = Math.min(Math.max(b, -MOONS.limit), MOONS.limit);
      moved();
    }
    canvas.addEventListener("pointerdown", function (ev) {
      dragging = true;
      canvas.setPointerCapture(ev.pointerId);
      moveTo(ev);
    });
    canvas.addEventListener("pointermove", function (ev) { if (dragging) moveTo(ev); });
    canvas.addEventListener("pointerup", function () { dragging = false; });
    canvas.addEventListener("pointercancel", function () { dragging = false; });
  }

  // The panels draw at once; the warp stages, then a coarse and a fine density raster, are computed
  // in slices after mounting (root's data-busy until done), each redrawing when it is ready.
  function mountMoons(root, m) {
    var L = m.couplings.length, ui = moonsLayout(root, L), stages = [], image = null;
    var lines = gridLines(), points = new Float64Array(lines.length + m.extras.points.length);
    points.set(lines);
    points.set(m.extras.points, lines.length);

    var redraw = redrawer(root, function (finished) {
      var x = [Number(ui.x1.input.value), Number(ui.x2.input.value)], k = Number(ui.k.input.value);
      var way = pointPath(m, x);
      showReadout(ui, x, k, L, way);
      drawDensity(ui.density, image, x);
      drawWarp(ui.warp, stages[k], lines.length / 2, k, L, way.path);
      finished();
    });
    [ui.x1, ui.x2, ui.k].forEach(function (s) { s.input.addEventListener("input", redraw.later); });
    enableDrag(ui, redraw.later);
    redraw.now();

    var t0;
    function raster(G, next) {
      return densitySteps(m, G, function (off) {
        image = off;
        root.setAttribute("data-density-grid", G);
        if (next) next();
        redraw.now();
      });
    }
    var steps = warpSteps(m, points, stages).concat([function () { redraw.now(); }], raster(MOONS.grids[0], function () {
      t0 = performance.now();
    }), raster(MOONS.grids[1], function () {
      root.setAttribute("data-density-ms", (performance.now() - t0).toFixed(0));
    }));
    core.inSlices(root, steps, function () {});
  }

  function sub(k) {
    return String(k).replace(/\d/g, function (c) { return String.fromCharCode(0x2080 + Number(c)); });
  }

  // ---------------------------------------------------------------------------------------
  // The MNIST flow, inverse: samples at a temperature
  // ---------------------------------------------------------------------------------------

  var SAMPLES = {count: 16, columns: 4, side: 28, scale: 3, gap: 4, tMax: 1.2, tStep: 0.05, t: 1.0};

  // A standard normal draw (Box-Muller).
  function gaussian() {
    var u = 1 - Math.random(), v = Math.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  // Images x (n * 784, values in [0, 1] after clamping) -> a grid of digits, black ink on white.
  function drawSamples(canvas, x, n) {
    var P = SAMPLES, tile = P.side * P.scale, ctx = canvas.getContext("2d"), one = el("canvas", {width: tile, height: tile});
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (var i = 0; i < n; i++) {
      var ink = new Float64Array(P.side * P.side);
      for (var q = 0; q < ink.length; q++) ink[q] = Math.min(Math.max(x[i * ink.length + q], 0), 1);
      core.drawDigit(one, ink, P.side, P.scale);
      ctx.drawImage(one, (i % P.columns) * (tile + P.gap), Math.floor(i / P.columns) * (tile + P.gap));
    }
  }

  // The temperature slider, the noise buttons and the 16 samples; onFirst() once the first are drawn.
  function mountSamples(root, m, onFirst) {
    var id = "gf" + (++counter), P = SAMPLES, dim = m.dim;
    var noise = Float64Array.from(m.extras.noise), chapterNoise = Float64Array.from(noise);
    var n = noise.length / dim, tile = P.side * P.scale, cols = P.columns, rowsN = Math.ceil(n / cols);
    var controls = root.querySelector(".gx-samples-controls"), status = root.querySelector(".gx-status");
    var t = slider(controls, id + "-t", "T", 0, P.tMax, P.tStep, P.t);
    t.input.setAttribute("data-role", "temperature");
    var fresh = controls.appendChild(el("button", {type: "button", "data-role": "new-noise"}, "new noise"));
    var again = controls.appendChild(el("button", {type: "button", "data-role": "chapter-noise"}, "the chapter's noise"));
    var canvas = root.querySelector(".gx-samples-canvas");
    canvas.width = cols * tile + (cols - 1) * P.gap;
    canvas.height = rowsN * tile + (rowsN - 1) * P.gap;

    // The inverse flow runs in slices (16 samples through 8 couplings take a second or more);
    // a new temperature or noise cancels the samples still being computed.
    var redraw = redrawer(root, function (finished) {
      var T = Number(t.input.value), z = new Float64Array(noise.length), t0 = performance.now();
      t.output.textContent = T.toFixed(2);
      for (var i = 0; i < z.length; i++) z[i] = T * noise[i];
      var job = inverseSteps(m, z, n);
      core.inSlices(root, job.steps, function () {
        drawSamples(canvas, job.x, n);
        status.textContent = n + " samples x = f\u207b\u00b9(z), z ~ N(0, T\u00b2I), T = " + T.toFixed(2) +
          ": inverse flow computed in this page in " + Math.round(performance.now() - t0) + " ms";
        finished();
        if (onFirst) { onFirst(); onFirst = null; }
      });
    });
    t.input.addEventListener("input", redraw.later);
    fresh.addEventListener("click", function () {
      for (var i = 0; i < noise.length; i++) noise[i] = gaussian();
      redraw.later();
    });
    again.addEventListener("click", function () {
      noise.set(chapterNoise);
      redraw.later();
    });
    redraw.now();
  }

  // The MNIST panel starts with a button; the weights (tens of MB) load only when it is pressed.
  function mountMnist(root) {
    var src = root.getAttribute("data-src"), mb = root.getAttribute("data-megabytes");
    root.textContent = "";
    root.appendChild(el("h4", {}, root.getAttribute("data-title") || "Samples of the MNIST flow"));
    var controls = root.appendChild(el("div", {"class": "gx-sliders gx-samples-controls"}));
    var load = controls.appendChild(el("button", {type: "button", "data-role": "load"},
      "load the flow's weights (" + mb + " MB)"));
    var status = root.appendChild(el("p", {"class": "gx-z gx-status"}, "Nothing is loaded until you press the button."));
    root.appendChild(el("canvas", {
      "class": "gx-samples-canvas", width: 0, height: 0, role: "img",
      "aria-label": "16 samples of the MNIST flow at the chosen temperature"
    }));
    if (root.getAttribute("data-subtitle")) root.appendChild(el("p", {"class": "gx-sub"}, root.getAttribute("data-subtitle")));

    // Decode the weights in slices, one coupling each, then show the samples.
    function ready() {
      var t0 = performance.now();
      core.inSlices(root, decodeSteps("mnist"), function () {
        root.setAttribute("data-decode-ms", (performance.now() - t0).toFixed(0));
        load.remove();
        mountSamples(root, model("mnist"), function () { root.setAttribute("data-loaded", "1"); });
      });
    }
    load.addEventListener("click", function () {
      load.disabled = true;
      if (window.GENGEN_FLOWS && window.GENGEN_FLOWS.mnist) { ready(); return; }
      status.textContent = "loading " + mb + " MB of weights\u2026";
      var script = el("script", {src: src});
      var t0 = performance.now();
      script.onload = function () {
        root.setAttribute("data-load-ms", (performance.now() - t0).toFixed(0));
        status.textContent = "decoding the weights\u2026";
        try { ready(); } catch (err) { status.textContent = String(err.message || err); console.error(err); }
      };
      script.onerror = function () {
        load.disabled = false;
        status.textContent = "could not load " + src;
      };
      document.head.appendChild(script);
    });
  }

  function mount(root) {
    var name = root.getAttribute("data-flow");
    if (name === "mnist") mountMnist(root);
    else mountMoons(root, model(name));
  }

  window.GengenFlowExplorer = {
    model: model, forward: forward, inverse: inverse, logProb: logProb, logNormal: logNormal,
    MOONS: MOONS, SAMPLES: SAMPLES
  };
  core.mountAll(".gengen-explorer[data-flow]", mount);
})();
