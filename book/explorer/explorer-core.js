/* gengen explorers, shared core: what every in-page explorer needs, and nothing model-specific.
 *
 * Loaded before the model's own script (vae-explorer.js, gan-explorer.js, flow-explorer.js, fm-explorer.js).
 * Weight files written by gengen_lib/export/ assign JSON documents to window globals; every
 * array in them is {shape, data: base64 of little-endian float32, float16 or uint8 bytes, row-major}.
 *
 * window.GengenCore = {
 *   array(entry, dtype) -> Float32Array      decode one stored array
 *   documentOf(registry, name, file) -> doc  window[registry][name], or an error naming the missing file
 *   layer(entry, dtype) -> {w, b, out, in}   one stored {weight (out, in), bias (out)} pair
 *   dense(layer, x, n, act) -> Float64Array  act(W x + b) for n rows x (n * in); act optional
 *   denseTangents(layer, x, dx, n, k, act) -> {y, dy}   dense with k tangents per row carried along
 *                                             (forward-mode derivatives): dy (n * k * out) = act'(a) W dx
 *   relu, sigmoid, leakyRelu(slope), silu    activations for dense; SILU = {f, df} for denseTangents
 *   inSlices(root, steps, done)              run step functions in slices of at most SLICE_MS,
 *                                             yielding to the page between slices (no long task);
 *                                             root has data-busy until done(); a new call cancels
 *   el(tag, attrs, text) -> Element          create an element
 *   drawDigit(canvas, ink, side, scale, left, top)  ink in [0, 1] (side*side), black = 1, on white
 *   fmt(v, digits) -> "+0.12" / "−0.12"      signed number for slider read-outs
 *   slider(panel, id, label, min, max, step, value) -> {input, output}   a labelled range input and its read-out
 *   select(panel, id, label, options, value) -> select   a labelled drop-down; options [[value, text], ...]
 *   redrawer(root, draw) -> {now, later}     draw(finished) at most once per frame; counts redraws in
 *                                             data-draws and times the last one in data-draw-ms
 *   magma(t) -> [r, g, b]                    the magma colour map, t in [0, 1]
 *   mountAll(selector, mount)                mount every root, once, when the page is ready;
 *                                             an error is written into that root, not thrown
 * }
 */
(function () {
  "use strict";

  function bytes(b64) {
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function half(h) {
    var sign = h & 0x8000 ? -1 : 1;
    var exp = (h >> 10) & 0x1f;
    var frac = h & 0x3ff;
    if (exp === 0) return sign * Math.pow(2, -14) * (frac / 1024);
    if (exp === 31) return frac ? NaN : sign * Infinity;
    return sign * Math.pow(2, exp - 15) * (1 + frac / 1024);
  }

  // Every float16 bit pattern's value, built on first use: decoding becomes one table look-up.
  var HALVES = null;
  function halves() {
    if (!HALVES) {
      HALVES = new Float32Array(65536);
      for (var h = 0; h < 65536; h++) HALVES[h] = half(h);
    }
    return HALVES;
  }

  // {shape, data} -> Float32Array, read little-endian whatever the machine's byte order.
  var SIZES = {uint8: 1, float16: 2, float32: 4};
  function array(entry, dtype) {
    var b = bytes(entry.data);
    var view = new DataView(b.buffer);
    var n = entry.shape.reduce(function (a, s) { return a * s; }, 1);
    var size = SIZES[dtype];
    if (!size) throw new Error("gengen explorer: unknown dtype " + dtype);
    if (b.length !== n * size) throw new Error("gengen explorer: array of shape " + entry.shape + " has " + b.length + " bytes");
    var out = new Float32Array(n);
    if (size === 1) {
      out.set(b);
    } else if (size === 2) {
      var table = halves();
      for (var i = 0; i < n; i++) out[i] = table[b[2 * i] | (b[2 * i + 1] << 8)];
    } else {
      for (var j = 0; j < n; j++) out[j] = view.getFloat32(4 * j, true);
    }
    return out;
  }

  function documentOf(registry, name, file) {
    var doc = (window[registry] || {})[name];
    if (!doc) throw new Error("gengen explorer: '" + name + "' is not loaded (missing " + file + "?)");
    return doc;
  }

  function layer(entry, dtype) {
    return {w: array(entry.weight, dtype), b: array(entry.bias, dtype), out: entry.weight.shape[0], in: entry.weight.shape[1]};
  }

  function relu(a) { return a > 0 ? a : 0; }
  function sigmoid(a) { return 1 / (1 + Math.exp(-a)); }
  function leakyRelu(slope) { return function (a) { return a > 0 ? a : slope * a; }; }
  function silu(a) { return a / (1 + Math.exp(-a)); }
  // silu and its derivative s(a) (1 + a (1 - s(a))), s the sigmoid, for denseTangents.
  var SILU = {f: silu, df: function (a) { var s = 1 / (1 + Math.exp(-a)); return s * (1 + a * (1 - s)); }};

  // y (n * out) = act(W x + b) for n rows x (n * in). Rows go in blocks of BLOCK, so each weight row
  // is read once per block while the block's inputs stay in the cache.
  var BLOCK = 16;
  function dense(l, x, n, act) {
    var y = new Float64Array(n * l.out), w = l.w, b = l.b, nin = l.in, nout = l.out;
    for (var r0 = 0; r0 < n; r0 += BLOCK) {
      var r1 = Math.min(r0 + BLOCK, n);
      for (var j = 0; j < nout; j++) {
        var row = j * nin, bj = b[j];
        for (var r = r0; r < r1; r++) {
          var a = bj, xr = r * nin;
          for (var k = 0; k < nin; k++) a += w[row + k] * x[xr + k];
          y[r * nout + j] = act ? act(a) : a;
        }
      }
    }
    return y;
  }

  // Forward-mode derivatives through one layer: rows x (n * in) with k tangent vectors each, dx (n * k * in),
  // -> {y: act.f(W x + b) (n * out), dy: act.df(W x + b) * (W dx) (n * k * out)}; act optional (identity).
  function denseTangents(l, x, dx, n, k, act) {
    var w = l.w, nin = l.in, nout = l.out, y = new Float64Array(n * nout), dy = new Float64Array(n * k * nout);
    for (var r = 0; r < n; r++) {
      var xr = r * nin;
      for (var j = 0; j < nout; j++) {
        var row = j * nin, a = l.b[j];
        for (var i = 0; i < nin; i++) a += w[row + i] * x[xr + i];
        y[r * nout + j] = act ? act.f(a) : a;
        var slope = act ? act.df(a) : 1;
        for (var q = 0; q < k; q++) {
          var d = 0, dq = (r * k + q) * nin;
          for (var m = 0; m < nin; m++) d += w[row + m] * dx[dq + m];
          dy[(r * k + q) * nout + j] = slope * d;
        }
      }
    }
    return {y: y, dy: dy};
  }

  // Work that would block the page for long (a density raster, a batch of samples) as a list of
  // small steps, run a few at a time: each slice stops after SLICE_MS, then yields to the page.
  var SLICE_MS = 20;
  function inSlices(root, steps, done) {
    if (root.gengenJob) root.gengenJob.cancelled = true;
    var job = root.gengenJob = {cancelled: false}, i = 0;
    root.setAttribute("data-busy", "1");
    function slice() {
      if (job.cancelled) return;
      var t0 = performance.now();
      while (i < steps.length && performance.now() - t0 < SLICE_MS) steps[i++]();
      if (i < steps.length) { setTimeout(slice, 0); return; }
      root.gengenJob = null;
      root.removeAttribute("data-busy");
      done();
    }
    setTimeout(slice, 0);
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var a in attrs) e.setAttribute(a, attrs[a]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ink (side*side) in [0, 1] -> a side*scale square on the canvas, its corner at (left, top) (default 0, 0),
  // grey level round(255 * (1 - ink)).
  function drawDigit(canvas, ink, side, scale, left, top) {
    var ctx = canvas.getContext("2d");
    var w = side * scale;
    var img = ctx.createImageData(w, w);
    for (var y = 0; y < w; y++) {
      for (var x = 0; x < w; x++) {
        var v = Math.round(255 * (1 - ink[Math.floor(y / scale) * side + Math.floor(x / scale)]));
        var o = 4 * (y * w + x);
        img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
        img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, left || 0, top || 0);
  }

  function fmt(v, digits) {
    return (v >= 0 ? "+" : "\u2212") + Math.abs(v).toFixed(digits === undefined ? 2 : digits);
  }

  function slider(panel, id, label, min, max, step, value) {
    var row = panel.appendChild(el("div", {"class": "gx-slider"}));
    row.appendChild(el("label", {"for": id}, label));
    var input = row.appendChild(el("input", {type: "range", id: id, min: min, max: max, step: step, value: value}));
    var output = row.appendChild(el("output", {"for": id}));
    return {input: input, output: output};
  }

  function select(panel, id, label, options, value) {
    var row = panel.appendChild(el("div", {"class": "gx-slider gx-select"}));
    row.appendChild(el("label", {"for": id}, label));
    var box = row.appendChild(el("select", {id: id}));
    options.forEach(function (o) { box.appendChild(el("option", {value: o[0]}, o[1])); });
    box.value = value;
    return box;
  }

  // Runs draw(finished) at most once per frame however fast the events come; draw calls finished()
  // when the drawing is on screen (at once, or after work done in slices). Counts the redraws in
  // data-draws and times the last one, from its start to finished(), in data-draw-ms.
  function redrawer(root, draw) {
    var pending = false;
    function now() {
      var t0 = performance.now();
      draw(function () {
        root.setAttribute("data-draw-ms", (performance.now() - t0).toFixed(2));
        root.setAttribute("data-draws", Number(root.getAttribute("data-draws") || 0) + 1);
      });
    }
    function later() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; now(); });
    }
    return {now: now, later: later};
  }

  // Magma-like colour map, t in [0, 1] -> [r, g, b] (the chapters' density figures use magma).
  var MAGMA = [[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
               [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]];
  function magma(t) {
    var u = Math.min(Math.max(t, 0), 1) * (MAGMA.length - 1), i = Math.min(Math.floor(u), MAGMA.length - 2), f = u - i;
    return [0, 1, 2].map(function (k) { return Math.round(MAGMA[i][k] + f * (MAGMA[i + 1][k] - MAGMA[i][k])); });
  }

  function mountAll(selector, mount) {
    function run() {
      var roots = document.querySelectorAll(selector);
      for (var i = 0; i < roots.length; i++) {
        if (roots[i].getAttribute("data-mounted")) continue;
        try {
          mount(roots[i]);
          roots[i].setAttribute("data-mounted", "1");
        } catch (err) {
          roots[i].textContent = String(err.message || err);
          console.error(err);
        }
      }
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
    else run();
  }

  window.GengenCore = {
    array: array, documentOf: documentOf, layer: layer, dense: dense, denseTangents: denseTangents, relu: relu,
    sigmoid: sigmoid, leakyRelu: leakyRelu, silu: silu, SILU: SILU, inSlices: inSlices, SLICE_MS: SLICE_MS, el: el,
    drawDigit: drawDigit, fmt: fmt, slider: slider, select: select, redrawer: redrawer, magma: magma,
    mountAll: mountAll
  };
})();
