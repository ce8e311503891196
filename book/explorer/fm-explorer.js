/* gengen flow-matching explorer: a velocity field run in the page, no Python kernel needed.
 * Needs explorer-core.js (window.GengenCore) and explorer.css.
 *
 * The data come from fm_*.js files (written by gengen_lib/export/flow_matching.py), which assign
 * window.GENGEN_FLOW_MATCHING[name]; every array is {shape, data: base64 little-endian bytes}.
 * Time runs from noise (t = 0) to data (t = 1): dx/dt = v(x, t).
 *
 * The velocity MLP of a point x (2) at time t, with f the sinusoidal time features:
 *   h1 = silu(W1 [x, f(t)] + b1), h2 = silu(W2 h1 + b2), h3 = silu(W3 h2 + b3), v = W4 h3 + b4.
 * The time features enter only through W1's last columns, so for one t they are a bias, computed once.
 * Its Jacobian dv/dx (2 x 2) comes by forward mode (GengenCore.denseTangents), exactly.
 *
 * The ODE solvers are those of torchdiffeq, step for step (the library's solvers): a grid of steps
 * of size 1 / steps from t0 towards t1 (the last one shorter), Euler, midpoint or RK4 (the 3/8 rule,
 * as torchdiffeq's "rk4"); between grid times, states are interpolated linearly. A backwards solve
 * (t1 < t0) is a forward one in the time -t, as torchdiffeq does it.
 *
 * Two kinds of root:
 *   <div class="gengen-explorer" data-live-explorer data-fm="moons">   the two-moons velocity: particles
 *     from N(0, I) carried to the time t of a slider by the chosen solver, and the density p_t on a grid,
 *     log p_t(x) = log N(x_0; 0, I) - int_0^t div v(x_s, s) ds, solved backwards from (x, t) to time 0.
 *   <div class="gengen-explorer" data-live-explorer data-fm="mnist">   precomputed MNIST paths: the images
 *     x_t of 8 seeds under the shipped U-Net at 21 times, shown at the slider's t.
 * Each root counts its redraws in data-draws and keeps the last one's milliseconds in data-draw-ms;
 * long work (the particles' paths, the density rasters) runs in slices (GengenCore.inSlices) on the
 * panel's figure, which has data-busy meanwhile.
 */
(function () {
  "use strict";

  var core = window.GengenCore;
  var el = core.el;
  var LOG_2PI = Math.log(2 * Math.PI);
  var EVALUATIONS = {euler: 1, midpoint: 2, rk4: 4};
  var REGISTRY = "GENGEN_FLOW_MATCHING";

  // ---------------------------------------------------------------------------------------
  // The velocity field and its divergence
  // ---------------------------------------------------------------------------------------

  var models = {};

  // torch.linspace(a, b, n) in float64: the first half counted from a, the second from b.
  function linspace(a, b, n) {
    var out = new Float64Array(n), delta = (b - a) / (n - 1);
    for (var i = 0; i < n; i++) out[i] = i < Math.floor(n / 2) ? a + delta * i : b - delta * (n - 1 - i);
    return out;
  }

  function model(name) {
    if (models[name]) return models[name];
    var doc = core.documentOf(REGISTRY, name, "fm_" + name + ".js"), dim = doc.dim, T = doc.time_dim;
    var layers = doc.layers.map(function (l) { return core.layer(l, doc.dtype); }), first = layers[0];
    var wx = new Float64Array(first.out * dim), wt = new Float64Array(first.out * T);
    for (var j = 0; j < first.out; j++) {
      for (var i = 0; i < dim; i++) wx[j * dim + i] = first.w[j * first.in + i];
      for (var k = 0; k < T; k++) wt[j * T + k] = first.w[j * first.in + dim + k];
    }
    var frequencies = linspace(0, Math.log(doc.max_frequency), T / 2).map(Math.exp), extras = {};
    for (var key in doc.extras) extras[key] = core.array(doc.extras[key], "float32");
    models[name] = {
      doc: doc, dim: dim, layers: layers, hidden: first.out, timeDim: T, frequencies: frequencies,
      inputs: {w: wx, out: first.out, in: dim, b: null}, timeWeights: wt, biases: new Map(), extras: extras
    };
    return models[name];
  }

  // The first layer at time t: its weights on x and the bias b1 + W1[:, dim:] f(t) (cached per t).
  function firstLayer(m, t) {
    var b = m.biases.get(t);
    if (!b) {
      var T = m.timeDim, half = T / 2, f = new Float64Array(T), first = m.layers[0];
      for (var k = 0; k < half; k++) {
        var angle = 2 * Math.PI * t * m.frequencies[k];
        f[k] = Math.sin(angle);
        f[half + k] = Math.cos(angle);
      }
      b = new Float64Array(m.hidden);
      for (var j = 0; j < m.hidden; j++) {
        var a = first.b[j];
        for (var q = 0; q < T; q++) a += m.timeWeights[j * T + q] * f[q];
        b[j] = a;
      }
      if (m.biases.size > 4096) m.biases.clear();
      m.biases.set(t, b);
    }
    return {w: m.inputs.w, b: b, out: m.hidden, in: m.dim};
  }

  // v(x, t) for n rows x (n * dim) -> n * dim.
  function velocity(m, x, n, t) {
    var h = core.dense(firstLayer(m, t), x, n, core.silu), L = m.layers;
    for (var l = 1; l < L.length - 1; l++) h = core.dense(L[l], h, n, core.silu);
    return core.dense(L[L.length - 1], h, n);
  }

  // v(x, t) and div_x v(x, t) = trace of dv/dx, exact, for n rows x (n * dim): {v (n * dim), div (n)}.
  function velocityAndDivergence(m, x, n, t) {
    var d = m.dim, eye = new Float64Array(n * d * d), L = m.layers;
    for (var r = 0; r < n; r++) for (var i = 0; i < d; i++) eye[(r * d + i) * d + i] = 1;
    var h = core.denseTangents(firstLayer(m, t), x, eye, n, d, core.SILU);
    for (var l = 1; l < L.length - 1; l++) h = core.denseTangents(L[l], h.y, h.dy, n, d, core.SILU);
    var out = core.denseTangents(L[L.length - 1], h.y, h.dy, n, d), div = new Float64Array(n);
    for (var s = 0; s < n; s++) for (var q = 0; q < d; q++) div[s] += out.dy[(s * d + q) * d + q];
    return {v: out.y, div: div};
  }

  // ---------------------------------------------------------------------------------------
  // Fixed-step solvers (torchdiffeq's, step for step)
  // ---------------------------------------------------------------------------------------

  // The solver's grid from t0 to t1 in the (possibly reversed) time s = sign * t: {sign, times}.
  function grid(t0, t1, steps) {
    var sign = t1 < t0 ? -1 : 1, start = sign * t0, end = sign * t1, h = 1 / steps;
    var count = Math.ceil((end - start) / h + 1), times = new Float64Array(count);
    for (var k = 0; k < count; k++) times[k] = k * h + start;
    times[count - 1] = end;
    return {sign: sign, times: times};
  }

  // One step of `method` from (s0, y) to s1 for dy/ds = f(s, y) (y a Float64Array): the new state.
  function step(method, f, s0, s1, y) {
    var dt = s1 - s0, k1 = f(s0, y), n = y.length, out = new Float64Array(n), i;
    if (method === "euler") {
      for (i = 0; i < n; i++) out[i] = y[i] + dt * k1[i];
    } else if (method === "midpoint") {
      var mid = new Float64Array(n);
      for (i = 0; i < n; i++) mid[i] = y[i] + k1[i] * (0.5 * dt);
      var k = f(s0 + 0.5 * dt, mid);
      for (i = 0; i < n; i++) out[i] = y[i] + dt * k[i];
    } else {
      var third = 1 / 3, y2 = new Float64Array(n), y3 = new Float64Array(n), y4 = new Float64Array(n);
      for (i = 0; i < n; i++) y2[i] = y[i] + dt * k1[i] * third;
      var k2 = f(s0 + dt * third, y2);
      for (i = 0; i < n; i++) y3[i] = y[i] + dt * (k2[i] - k1[i] * third);
      var k3 = f(s0 + dt * (2 / 3), y3);
      for (i = 0; i < n; i++) y4[i] = y[i] + dt * (k1[i] - k2[i] + k3[i]);
      var k4 = f(s1, y4);
      for (i = 0; i < n; i++) out[i] = y[i] + (k1[i] + 3 * (k2[i] + k3[i]) + k4[i]) * dt * 0.125;
    }
    return out;
  }

  // dx/dt = v for n points x (n * dim), in the time s = sign * t.
  function flowField(m, n, sign) {
    return function (s, x) {
      var v = velocity(m, x, n, sign * s);
      if (sign < 0) for (var i = 0; i < v.length; i++) v[i] = -v[i];
      return v;
    };
  }

  // [x, delta] for n points: d/dt [x, delta] = [v, div v], in the time s = sign * t.
  function augmentedField(m, n, sign) {
    var d = m.dim;
    return function (s, state) {
      var vd = velocityAndDivergence(m, state.subarray(0, n * d), n, sign * s), out = new Float64Array(state.length);
      for (var i = 0; i < n * d; i++) out[i] = sign * vd.v[i];
      for (var r = 0; r < n; r++) out[n * d + r] = sign * vd.div[r];
      return out;
    };
  }

  // The states of n points x0 (n * dim) at each time of the grid from 0 to 1: {times, states}.
  function solveSteps(m, x0, n, method, steps) {
    var g = grid(0, 1, steps), f = flowField(m, n, 1), out = {times: g.times, states: [Float64Array.from(x0)]}, list = [];
    function one(k) { return function () { out.states.push(step(method, f, g.times[k], g.times[k + 1], out.states[k])); }; }
    for (var k = 0; k + 1 < g.times.length; k++) list.push(one(k));
    return {result: out, steps: list};
  }

  // The points at time t, linearly interpolated between the solver's states (as torchdiffeq does).
  function statesAt(path, t) {
    var times = path.times, k = 1;
    while (k < times.length - 1 && times[k] < t) k++;
    var t0 = times[k - 1], t1 = times[k], a = path.states[k - 1], b = path.states[k];
    if (t === t0) return a;
    if (t === t1) return b;
    var w = (t - t0) / (t1 - t0), out = new Float64Array(a.length);
    for (var i = 0; i < a.length; i++) out[i] = a[i] + w * (b[i] - a[i]);
    return out;
  }

  // Paths of n points x0 from t = 0 at once, read at each of `times`: one Float64Array (n * dim) per time.
  function trajectory(m, x0, n, times, method, steps) {
    var job = solveSteps(m, x0, n, method, steps);
    job.steps.forEach(function (s) { s(); });
    return times.map(function (t) { return statesAt(job.result, t); });
  }

  // log N(x; 0, I) of each of the n rows of x (n * dim).
  function logNormal(x, n, dim) {
    var out = new Float64Array(n);
    for (var r = 0; r < n; r++) {
      var s = 0;
      for (var i = 0; i < dim; i++) s += x[r * dim + i] * x[r * dim + i];
      out[r] = -0.5 * (s + dim * LOG_2PI);
    }
    return out;
  }

  // log p_t(x) of n points x (n * dim) as solver steps from t back to 0; the last step writes
  // log N(x_0; 0, I) + delta_0 into out (n), from offset `at`.
  function logDensitySteps(m, x, n, t, method, steps, out, at) {
    var d = m.dim, state = new Float64Array(n * (d + 1)), list = [];
    state.set(x);
    if (t === 0) return [function () { out.set(logNormal(x, n, d), at || 0); }];
    var g = grid(t, 0, steps), f = augmentedField(m, n, g.sign), box = {y: state};
    function one(k) { return function () { box.y = step(method, f, g.times[k], g.times[k + 1], box.y); }; }
    for (var k = 0; k + 1 < g.times.length; k++) list.push(one(k));
    list.push(function () {
      var lp = logNormal(box.y.subarray(0, n * d), n, d);
      for (var r = 0; r < n; r++) lp[r] += box.y[n * d + r];
      out.set(lp, at || 0);
    });
    return list;
  }

  // log p_t(x) of n points at once (n).
  function logDensity(m, x, n, t, method, steps) {
    var out = new Float64Array(n);
    logDensitySteps(m, x, n, t, method, steps, out, 0).forEach(function (s) { s(); });
    return out;
  }


  // ---------------------------------------------------------------------------------------
  // The two-moons panel: particles and the density p_t
  // ---------------------------------------------------------------------------------------

  var MOONS = {
    side: 320,          // canvas pixels
    extent: 3,          // both panels show [-3, 3]^2
    grids: [16, 48],    // p_t on grid x grid points: a coarse raster first, then a fine one
    chunk: 100,         // particles solved together in one step of the background work
    trails: 10,         // every 10th particle draws its path so far
    t: 0.6, steps: 10, method: "midpoint", maxSteps: 40
  };
  var counter = 0;
  // Multiply-adds per millisecond this page's velocity MLP reaches (measured on the particles' paths).
  var speed = {rate: null, listeners: []};

  function toPx(a, b) {
    var E = MOONS.extent, S = MOONS.side;
    return [(a + E) / (2 * E) * S, (E - b) / (2 * E) * S];
  }

  // A standard normal draw (Box-Muller).
  function gaussian() {
    var u = 1 - Math.random(), v = Math.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  // The paths of n particles x0 (n * 2) as steps of MOONS.chunk particles; the last one calls done(path),
  // path = {times, states} with all n particles per state, and adds its timing to the measured speed.
  function particleJob(m, x0, n, method, steps, done) {
    var parts = [], list = [], busy = {ms: 0};
    function timed(f) { return function () { var t0 = performance.now(); f(); busy.ms += performance.now() - t0; }; }
    for (var a = 0; a < n; a += MOONS.chunk) {
      var b = Math.min(a + MOONS.chunk, n), job = solveSteps(m, x0.subarray(2 * a, 2 * b), b - a, method, steps);
      parts.push(job.result);
      list = list.concat(job.steps.map(timed));
    }
    list.push(function () {
      var times = parts[0].times, states = Array.from(times, function (_, k) {
        var all = new Float64Array(2 * n), at = 0;
        parts.forEach(function (p) { all.set(p.states[k], at); at += p.states[k].length; });
        return all;
      });
      var macs = (times.length - 1) * EVALUATIONS[method] * n * m.doc.info.multiply_adds;
      if (busy.ms > 5) {
        speed.rate = macs / busy.ms;
        speed.listeners.forEach(function (f) { f(); });
      }
      done({times: times, states: states, ms: busy.ms});
    });
    return list;
  }

  // p_t on a G x G raster as steps (one solver step of one raster row each); the last one calls
  // done(image, total): an offscreen canvas in the colour map (linear in p, 0 to the raster's largest
  // value), row 0 at the top (x2 = +extent), and the sum of p over the raster's cells.
  function densityJob(m, G, t, method, steps, done) {
    var E = MOONS.extent, lp = new Float64Array(G * G), list = [];
    for (var i = 0; i < G; i++) {
      var x = new Float64Array(2 * G);
      for (var j = 0; j < G; j++) {
        x[2 * j] = -E + 2 * E * (j + 0.5) / G;
        x[2 * j + 1] = E - 2 * E * (i + 0.5) / G;
      }
      list = list.concat(logDensitySteps(m, x, G, t, method, steps, lp, i * G));
    }
    list.push(function () {
      var max = -Infinity, total = 0, cell = (2 * E / G) * (2 * E / G);
      for (var q = 0; q < lp.length; q++) { max = Math.max(max, lp[q]); total += Math.exp(lp[q]) * cell; }
      var off = el("canvas", {width: G, height: G}), ctx = off.getContext("2d"), img = ctx.createImageData(G, G);
      for (var r = 0; r < lp.length; r++) {
        var c = core.magma(Math.exp(lp[r] - max));
        img.data[4 * r] = c[0]; img.data[4 * r + 1] = c[1]; img.data[4 * r + 2] = c[2]; img.data[4 * r + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      done(off, total);
    });
    return list;
  }

  function hue(x0, i) { return Math.round((Math.atan2(x0[2 * i + 1], x0[2 * i]) / Math.PI + 1) * 180); }

  // The particles at time t (interpolated between the solver's states), the training points in grey,
  // and the paths so far of every MOONS.trails-th particle.
  function drawParticles(canvas, m, path, t, x0) {
    var ctx = canvas.getContext("2d"), S = MOONS.side, pts = m.extras.points, i, q;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, S, S);
    ctx.fillStyle = "#cfcfcf";
    for (i = 0; i < pts.length / 2; i++) { q = toPx(pts[2 * i], pts[2 * i + 1]); ctx.fillRect(q[0] - 1, q[1] - 1, 2, 2); }
    if (!path) return;
    var now = statesAt(path, t), n = now.length / 2, last = 0;
    while (last + 1 < path.times.length && path.times[last + 1] < t) last++;
    ctx.lineWidth = 1;
    for (i = 0; i < n; i += MOONS.trails) {
      ctx.strokeStyle = "hsla(" + hue(x0, i) + ", 60%, 40%, 0.6)";
      ctx.beginPath();
      for (var k = 0; k <= last; k++) { q = toPx(path.states[k][2 * i], path.states[k][2 * i + 1]); ctx[k ? "lineTo" : "moveTo"](q[0], q[1]); }
      q = toPx(now[2 * i], now[2 * i + 1]);
      ctx.lineTo(q[0], q[1]);
      ctx.stroke();
    }
    for (i = 0; i < n; i++) {
      q = toPx(now[2 * i], now[2 * i + 1]);
      ctx.fillStyle = "hsl(" + hue(x0, i) + ", 70%, 42%)";
      ctx.fillRect(q[0] - 2, q[1] - 2, 4, 4);
    }
  }

  function drawDensity(canvas, image) {
    var ctx = canvas.getContext("2d"), S = MOONS.side;
    if (!image) { ctx.fillStyle = "#ddd"; ctx.fillRect(0, 0, S, S); return; }
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(image, 0, 0, S, S);
  }

  function figure(body, label, caption) {
    var fig = body.appendChild(el("figure", {"class": "gx-figure"}));
    var canvas = fig.appendChild(el("canvas", {width: MOONS.side, height: MOONS.side, role: "img", "aria-label": label}));
    return {fig: fig, canvas: canvas, caption: fig.appendChild(el("figcaption", {}, caption))};
  }

  function moonsLayout(root) {
    var id = "gm" + (++counter), ui = {};
    root.textContent = "";
    root.appendChild(el("h4", {}, root.getAttribute("data-title") || "Flow matching on two moons"));
    var body = root.appendChild(el("div", {"class": "gx-body"}));
    ui.left = figure(body, "400 particles drawn from the standard normal, carried by the learned velocity to time t, " +
      "over the training points in grey; coloured by the direction they started in", "");
    ui.right = figure(body, "the density p_t at time t as a heat map, bright where it is high, computed in the page " +
      "by the instantaneous change of variables", "");
    var panel = root.appendChild(el("div", {"class": "gx-sliders gx-flow-controls"}));
    ui.t = core.slider(panel, id + "-t", "t", 0, 1, 0.01, MOONS.t);
    ui.method = core.select(panel, id + "-method", "solver", [["euler", "Euler"], ["midpoint", "midpoint"], ["rk4", "RK4"]],
      MOONS.method);
    ui.steps = core.slider(panel, id + "-steps", "steps", 1, MOONS.maxSteps, 1, MOONS.steps);
    ui.t.input.setAttribute("data-role", "time");
    ui.method.setAttribute("data-role", "method");
    ui.steps.input.setAttribute("data-role", "steps");
    ui.fresh = panel.appendChild(el("button", {type: "button", "data-role": "new-particles"}, "new particles"));
    ui.status = root.appendChild(el("p", {"class": "gx-z gx-status", "aria-live": "polite"}));
    if (root.getAttribute("data-subtitle")) root.appendChild(el("p", {"class": "gx-sub"}, root.getAttribute("data-subtitle")));
    return ui;
  }

  function settings(ui) {
    return {t: Number(ui.t.input.value), method: ui.method.value, steps: Number(ui.steps.input.value)};
  }

  function showSettings(ui, s) {
    ui.t.output.textContent = s.t.toFixed(2);
    ui.steps.output.textContent = String(s.steps);
    ui.left.caption.textContent = "particles x\u209c at t = " + s.t.toFixed(2) + " (" + s.steps * EVALUATIONS[s.method] +
      " evaluations of v from 0 to 1)";
  }

  // The density of the current settings, coarse then fine, in slices on the right figure; a new call cancels.
  function densityWork(root, ui, m, state, redraw) {
    var s = settings(ui), steps = [], t0 = performance.now();
    state.density = {ms: {}};
    MOONS.grids.forEach(function (G) {
      steps = steps.concat(densityJob(m, G, s.t, s.method, s.steps, function (image, total) {
        state.image = image;
        state.density.ms[G] = performance.now() - t0;
        state.density.total = total;
        root.setAttribute("data-density-grid", G);
        root.setAttribute("data-density-t", s.t);
        root.setAttribute("data-density-ms", state.density.ms[G].toFixed(0));
        ui.right.caption.textContent = "p\u209c at t = " + s.t.toFixed(2) + " on a " + G + "\u00d7" + G + " grid; " +
          "total probability in the square " + total.toFixed(3);
        redraw.now();
      }));
    });
    root.removeAttribute("data-density-grid");
    ui.right.caption.textContent = "computing p\u209c at t = " + s.t.toFixed(2) + "\u2026";
    core.inSlices(ui.right.fig, steps, function () {});
  }

  function pathWork(root, ui, m, state, redraw) {
    var s = settings(ui), n = state.x0.length / 2;
    root.removeAttribute("data-paths");
    core.inSlices(ui.left.fig, particleJob(m, state.x0, n, s.method, s.steps, function (path) {
      state.path = path;
      root.setAttribute("data-paths", s.method + " " + s.steps);
      root.setAttribute("data-paths-ms", path.ms.toFixed(1));
      redraw.now();
    }), function () {});
  }

  function showStatus(ui, state) {
    var d = state.density || {ms: {}}, parts = [];
    if (state.path) parts.push("particle paths computed in " + Math.round(state.path.ms) + " ms");
    if (state.drawMs !== undefined) parts.push("particles drawn in " + state.drawMs.toFixed(1) + " ms");
    MOONS.grids.forEach(function (G) { if (d.ms[G] !== undefined) parts.push("p\u209c on " + G + "\u00d7" + G + " in " + Math.round(d.ms[G]) + " ms"); });
    ui.status.textContent = parts.length ? "In this page: " + parts.join("; ") + "." : "computing\u2026";
  }

  function mountMoons(root, m) {
    var ui = moonsLayout(root), state = {x0: Float64Array.from(m.extras.particles), path: null, image: null};
    var redraw = core.redrawer(root, function (finished) {
      var s = settings(ui), t0 = performance.now();
      showSettings(ui, s);
      drawParticles(ui.left.canvas, m, state.path, s.t, state.x0);
      drawDensity(ui.right.canvas, state.image);
      state.drawMs = performance.now() - t0;
      showStatus(ui, state);
      finished();
    });
    ui.t.input.addEventListener("input", function () { redraw.later(); densityWork(root, ui, m, state, redraw); });
    function resolve() { pathWork(root, ui, m, state, redraw); densityWork(root, ui, m, state, redraw); redraw.later(); }
    ui.method.addEventListener("change", resolve);
    ui.steps.input.addEventListener("input", resolve);
    ui.fresh.addEventListener("click", function () {
      for (var i = 0; i < state.x0.length; i++) state.x0[i] = gaussian();
      pathWork(root, ui, m, state, redraw);
    });
    redraw.now();
    resolve();
  }

  // ---------------------------------------------------------------------------------------
  // The MNIST panel: precomputed paths
  // ---------------------------------------------------------------------------------------

  var DIGITS = {side: 28, scale: 3, gap: 6, columns: 4};

  // The images of frame k, ink (seeds * times * 784) in [0, 1], as a grid of digits, black ink on white.
  function drawFrame(canvas, ink, seeds, times, k) {
    var P = DIGITS, tile = P.side * P.scale, ctx = canvas.getContext("2d"), one = el("canvas", {width: tile, height: tile});
    var pixels = P.side * P.side;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (var i = 0; i < seeds; i++) {
      core.drawDigit(one, ink.subarray((i * times + k) * pixels, (i * times + k + 1) * pixels), P.side, P.scale);
      ctx.drawImage(one, (i % P.columns) * (tile + P.gap), Math.floor(i / P.columns) * (tile + P.gap));
    }
  }

  // What one image would cost the page, from the U-Net's size and the speed measured on the moons panel.
  function costText(info) {
    var macs = info.unet_multiply_adds, n = info.evaluations_per_sample, moons = (window[REGISTRY] || {}).moons;
    var text = "One evaluation of the U-Net velocity is " + (macs / 1e6).toFixed(1) + " million multiply-adds" +
      (moons ? " (" + Math.round(macs / moons.info.multiply_adds) + " times the two-moons MLP on one point)" : "");
    if (!speed.rate) return text + "; the page measures its own speed once the particles have moved.";
    var ms = macs / speed.rate;
    return text + ": about " + Math.round(ms) + " ms in this page at the speed it measured on the particles, so " +
      (n * ms / 1000).toFixed(1) + " s per digit (" + n + " evaluations) and " + (8 * n * ms / 1000).toFixed(0) +
      " s for these eight paths.";
  }

  function mountMnist(root) {
    var doc = core.documentOf(REGISTRY, root.getAttribute("data-fm"), "fm_mnist.js"), id = "gm" + (++counter);
    var shape = doc.images.shape, seeds = shape[0], times = doc.times, P = DIGITS, tile = P.side * P.scale;
    var ink = core.array(doc.images, "uint8").map(function (v) { return v / 255; }), rows = Math.ceil(seeds / P.columns);
    root.textContent = "";
    root.appendChild(el("h4", {}, root.getAttribute("data-title") || "MNIST paths"));
    var fig = root.appendChild(el("figure", {"class": "gx-figure gx-digits"}));
    var canvas = fig.appendChild(el("canvas", {
      width: P.columns * tile + (P.columns - 1) * P.gap, height: rows * tile + (rows - 1) * P.gap, role: "img",
      "aria-label": "eight images x_t of the MNIST flow-matching model at the chosen time t, from noise at t = 0 to digits at t = 1"
    }));
    var caption = fig.appendChild(el("figcaption"));
    var panel = root.appendChild(el("div", {"class": "gx-sliders gx-flow-controls"}));
    // The slider counts frames (0 .. times - 1), so that every frame, the last included, is reachable.
    var t = core.slider(panel, id + "-t", "t", 0, times.length - 1, 1, Math.round((times.length - 1) / 2));
    t.input.setAttribute("data-role", "frame");
    var status = root.appendChild(el("p", {"class": "gx-z gx-status"}));
    if (root.getAttribute("data-subtitle")) root.appendChild(el("p", {"class": "gx-sub"}, root.getAttribute("data-subtitle")));
    var redraw = core.redrawer(root, function (finished) {
      var k = Number(t.input.value);
      t.output.textContent = times[k].toFixed(2);
      t.input.setAttribute("aria-valuetext", "t = " + times[k].toFixed(2));
      drawFrame(canvas, ink, seeds, times.length, k);
      caption.textContent = "x\u209c at t = " + times[k].toFixed(2) + " (frame " + (k + 1) + " of " + times.length +
        "), seeds " + doc.seeds[0] + "\u2013" + doc.seeds[seeds - 1];
      root.setAttribute("data-frame", k);
      finished();
    });
    t.input.addEventListener("input", redraw.later);
    function cost() { status.textContent = costText(doc.info); }
    speed.listeners.push(cost);
    cost();
    redraw.now();
  }

  // Mounts a panel and keeps, for the tests, when it started (data-mount-at) and how long it took (data-mount-ms).
  function mount(root) {
    var name = root.getAttribute("data-fm"), t0 = performance.now();
    if (name === "mnist") mountMnist(root);
    else mountMoons(root, model(name));
    root.setAttribute("data-mount-at", t0.toFixed(1));
    root.setAttribute("data-mount-ms", (performance.now() - t0).toFixed(1));
  }

  window.GengenFMExplorer = {
    model: model, velocity: velocity, velocityAndDivergence: velocityAndDivergence, trajectory: trajectory,
    logDensity: logDensity, grid: grid, EVALUATIONS: EVALUATIONS, MOONS: MOONS, DIGITS: DIGITS, speed: speed
  };
  core.mountAll(".gengen-explorer[data-fm]", mount);
})();
