/* gengen explorers, shared core: what every in-page explorer needs, and nothing model-specific.
 *
 * Loaded before the model's own script (vae-explorer.js, gan-explorer.js, flow-explorer.js).
 * Weight files written by gengen_lib/export.py assign JSON documents to window globals; every
 * array in them is {shape, data: base64 of little-endian float32 or float16 bytes, row-major}.
 *
 * window.GengenCore = {
 *   array(entry, dtype) -> Float32Array      decode one stored array
 *   el(tag, attrs, text) -> Element          create an element
 *   drawDigit(canvas, ink, side, scale, left, top)  ink in [0, 1] (side*side), black = 1, on white
 *   fmt(v, digits) -> "+0.12" / "−0.12"      signed number for slider read-outs
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
  function array(entry, dtype) {
    var b = bytes(entry.data);
    var view = new DataView(b.buffer);
    var n = entry.shape.reduce(function (a, s) { return a * s; }, 1);
    var size = dtype === "float16" ? 2 : 4;
    if (b.length !== n * size) throw new Error("gengen explorer: array of shape " + entry.shape + " has " + b.length + " bytes");
    var out = new Float32Array(n);
    if (size === 2) {
      var table = halves();
      for (var i = 0; i < n; i++) out[i] = table[b[2 * i] | (b[2 * i + 1] << 8)];
    } else {
      for (var j = 0; j < n; j++) out[j] = view.getFloat32(4 * j, true);
    }
    return out;
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

  window.GengenCore = {array: array, el: el, drawDigit: drawDigit, fmt: fmt, mountAll: mountAll};
})();
