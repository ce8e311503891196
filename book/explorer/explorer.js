/* gengen latent explorer: a VAE decoder run in the page, no Python kernel needed.
 *
 * The weights come from decoder_*.js files (written by gengen_lib/export.py), which assign
 * window.GENGEN_DECODERS[name] = {layers, origin, directions, names, limit, ...}; every
 * array is {shape, data: base64 of little-endian float32 (or float16) bytes}.
 *
 * Every element <div class="gengen-explorer" data-decoder="NAME"></div> becomes sliders and a
 * canvas: z = origin + sum_i s_i * directions[i], then
 *   p = sigmoid(W2 relu(W1 z + b1) + b2),
 * drawn as a 28 x 28 image, black (p = 1) on white (p = 0), each pixel a SCALE x SCALE block
 * with the grey level round(255 * (1 - p)).
 */
(function () {
  "use strict";

  var SIDE = 28;
  var SCALE = 8;
  var CSS = [
    ".gengen-explorer-row{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start;margin:1rem 0}",
    ".gengen-explorer{flex:1 1 20rem;max-width:34rem;border:1px solid var(--pst-color-border,#ccc);",
    "border-radius:.5rem;padding:.9rem 1rem;background:var(--pst-color-surface,#fafafa)}",
    ".gengen-explorer h4{margin:0 0 .6rem 0;font-size:1.05rem}",
    ".gengen-explorer .gx-sub{margin:.6rem 0 0 0;font-size:.85rem;line-height:1.35;opacity:.8}",
    ".gengen-explorer .gx-body{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}",
    ".gengen-explorer canvas{width:" + SIDE * SCALE + "px;height:" + SIDE * SCALE + "px;",
    "image-rendering:pixelated;border:1px solid #999;background:#fff;flex:none}",
    ".gengen-explorer .gx-sliders{flex:1 1 9rem;min-width:9rem}",
    ".gengen-explorer .gx-slider{display:grid;grid-template-columns:3.2rem 1fr 3.2rem;",
    "align-items:center;gap:.4rem;margin:.15rem 0}",
    ".gengen-explorer label{font-weight:600;font-size:.9rem;white-space:nowrap}",
    ".gengen-explorer input[type=range]{width:100%;margin:0}",
    ".gengen-explorer output{font-family:var(--pst-font-family-monospace,monospace);font-size:.85rem;",
    "text-align:right}",
    ".gengen-explorer .gx-z{font-family:var(--pst-font-family-monospace,monospace);font-size:.8rem;",
    "margin:.5rem 0 0 0}",
    ".gengen-explorer button{margin-top:.5rem;font-size:.85rem;padding:.15rem .7rem;cursor:pointer}"
  ].join("");

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

  // {shape, data} -> Float32Array, read little-endian whatever the machine's byte order.
  function array(entry, dtype) {
    var b = bytes(entry.data);
    var view = new DataView(b.buffer);
    var n = entry.shape.reduce(function (a, s) { return a * s; }, 1);
    var size = dtype === "float16" ? 2 : 4;
    if (b.length !== n * size) throw new Error("gengen explorer: array of shape " + entry.shape + " has " + b.length + " bytes");
    var out = new Float32Array(n);
    for (var i = 0; i < n; i++) out[i] = size === 2 ? half(view.getUint16(2 * i, true)) : view.getFloat32(4 * i, true);
    return out;
  }

  var models = {};

  function model(name) {
    if (models[name]) return models[name];
    var doc = (window.GENGEN_DECODERS || {})[name];
    if (!doc) throw new Error("gengen explorer: decoder '" + name + "' is not loaded (missing decoder_" + name + ".js?)");
    var l1 = doc.layers[0], l2 = doc.layers[1];
    models[name] = {
      doc: doc, zDim: doc.z_dim, hidden: doc.hidden, pixels: doc.pixels,
      w1: array(l1.weight, doc.dtype), b1: array(l1.bias, doc.dtype),
      w2: array(l2.weight, doc.dtype), b2: array(l2.bias, doc.dtype),
      origin: array(doc.origin, "float32"), directions: array(doc.directions, "float32"),
      k: doc.directions.shape[0]
    };
    return models[name];
  }

  // Slider values (k) -> latent code (z_dim): origin + values @ directions.
  function latent(m, values) {
    var z = new Float64Array(m.zDim);
    for (var d = 0; d < m.zDim; d++) {
      var s = m.origin[d];
      for (var i = 0; i < m.k; i++) s += values[i] * m.directions[i * m.zDim + d];
      z[d] = s;
    }
    return z;
  }

  // Latent code (z_dim) -> pixel means p (784): Linear, ReLU, Linear, sigmoid.
  function decode(m, z) {
    var h = new Float64Array(m.hidden);
    for (var j = 0; j < m.hidden; j++) {
      var a = m.b1[j], row = j * m.zDim;
      for (var d = 0; d < m.zDim; d++) a += m.w1[row + d] * z[d];
      h[j] = a > 0 ? a : 0;
    }
    var p = new Float64Array(m.pixels);
    for (var q = 0; q < m.pixels; q++) {
      var t = m.b2[q], r = q * m.hidden;
      for (var k = 0; k < m.hidden; k++) t += m.w2[r + k] * h[k];
      p[q] = 1 / (1 + Math.exp(-t));
    }
    return p;
  }

  function draw(canvas, p) {
    var ctx = canvas.getContext("2d");
    var w = SIDE * SCALE;
    var img = ctx.createImageData(w, w);
    for (var y = 0; y < w; y++) {
      for (var x = 0; x < w; x++) {
        var v = Math.round(255 * (1 - p[Math.floor(y / SCALE) * SIDE + Math.floor(x / SCALE)]));
        var o = 4 * (y * w + x);
        img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
        img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var a in attrs) e.setAttribute(a, attrs[a]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // "z12" -> "z₁₂"
  function pretty(label) {
    return label.replace(/^([a-z])(\d+)$/, function (_, v, d) {
      return v + d.replace(/\d/g, function (c) { return String.fromCharCode(0x2080 + Number(c)); });
    });
  }

  function fmt(v) { return (v >= 0 ? "+" : "\u2212") + Math.abs(v).toFixed(2); }

  var counter = 0;

  function mount(root) {
    if (root.getAttribute("data-mounted")) return;
    var name = root.getAttribute("data-decoder");
    var m = model(name);
    var limit = m.doc.limit, step = Number(root.getAttribute("data-step") || 0.05);
    var id = "gx" + (++counter);
    root.setAttribute("data-mounted", "1");
    root.textContent = "";
    root.appendChild(el("h4", {}, root.getAttribute("data-title") || "decoder " + name));
    var sub = root.getAttribute("data-subtitle") || "";
    var ev = (m.doc.info || {}).explained_variance;
    if (ev) {
      var total = ev.reduce(function (a, v) { return a + v; }, 0);
      sub += " Together they carry " + Math.round(100 * total) + "% of the codes' variance.";
    }
    var body = root.appendChild(el("div", {"class": "gx-body"}));
    if (sub) root.appendChild(el("p", {"class": "gx-sub"}, sub.trim()));
    var canvas = body.appendChild(el("canvas", {
      width: SIDE * SCALE, height: SIDE * SCALE, role: "img",
      "aria-label": "the digit decoded from the latent code set by the sliders"
    }));
    var panel = body.appendChild(el("div", {"class": "gx-sliders"}));
    var inputs = [], outputs = [];
    m.doc.names.forEach(function (label, i) {
      var row = panel.appendChild(el("div", {"class": "gx-slider"}));
      row.appendChild(el("label", {"for": id + "-" + i}, pretty(label)));
      inputs.push(row.appendChild(el("input", {
        type: "range", id: id + "-" + i, min: -limit, max: limit, step: step, value: 0, "data-index": i
      })));
      outputs.push(row.appendChild(el("output", {"for": id + "-" + i}, fmt(0))));
    });
    var zline = panel.appendChild(el("p", {"class": "gx-z"}));
    var reset = panel.appendChild(el("button", {type: "button"}, "reset to 0"));

    function update() {
      var values = inputs.map(function (inp) { return Number(inp.value); });
      values.forEach(function (v, i) { outputs[i].textContent = fmt(v); });
      var z = latent(m, values);
      var zs = Array.prototype.map.call(z, function (v) { return v.toFixed(2); });
      var norm = Math.sqrt(z.reduce(function (a, v) { return a + v * v; }, 0));
      var typical = (m.doc.info || {}).codes_norm;
      zline.textContent = m.zDim <= 4 ? "z = (" + zs.join(", ") + ")"
        : "|z| = " + norm.toFixed(2) + (typical ? " (test digits' codes: " + typical.toFixed(1) + " on average)" : "");
      draw(canvas, decode(m, z));
    }

    inputs.forEach(function (inp) { inp.addEventListener("input", update); });
    reset.addEventListener("click", function () {
      inputs.forEach(function (inp) { inp.value = 0; });
      update();
    });
    update();
  }

  function mountAll() {
    if (!document.getElementById("gengen-explorer-style")) {
      var style = el("style", {id: "gengen-explorer-style"});
      style.textContent = CSS;
      document.head.appendChild(style);
    }
    var roots = document.querySelectorAll(".gengen-explorer[data-decoder]");
    for (var i = 0; i < roots.length; i++) {
      try {
        mount(roots[i]);
      } catch (err) {
        roots[i].textContent = String(err.message || err);
        console.error(err);
      }
    }
  }

  window.GengenExplorer = {model: model, latent: latent, decode: decode, mount: mount, SIDE: SIDE, SCALE: SCALE};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
