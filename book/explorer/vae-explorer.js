/* gengen latent explorer: a VAE decoder run in the page, no Python kernel needed.
 * Needs explorer-core.js (window.GengenCore) and explorer.css.
 *
 * The weights come from decoder_*.js files (written by gengen_lib/export/vae.py), which assign
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

  var core = window.GengenCore;
  var SIDE = 28;
  var SCALE = 8;
  var array = core.array, el = core.el, fmt = core.fmt;

  var models = {};

  function model(name) {
    if (models[name]) return models[name];
    var doc = core.documentOf("GENGEN_DECODERS", name, "decoder_" + name + ".js");
    models[name] = {
      doc: doc, zDim: doc.z_dim, pixels: doc.pixels,
      layers: doc.layers.map(function (l) { return core.layer(l, doc.dtype); }),
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
    return core.dense(m.layers[1], core.dense(m.layers[0], z, 1, core.relu), 1, core.sigmoid);
  }

  // "z12" -> "z₁₂"
  function pretty(label) {
    return label.replace(/^([a-z])(\d+)$/, function (_, v, d) {
      return v + d.replace(/\d/g, function (c) { return String.fromCharCode(0x2080 + Number(c)); });
    });
  }

  var counter = 0;

  function mount(root) {
    var name = root.getAttribute("data-decoder");
    var m = model(name);
    var limit = m.doc.limit, step = Number(root.getAttribute("data-step") || 0.05);
    var id = "gx" + (++counter);
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
      core.drawDigit(canvas, decode(m, z), SIDE, SCALE);
    }

    inputs.forEach(function (inp) { inp.addEventListener("input", update); });
    reset.addEventListener("click", function () {
      inputs.forEach(function (inp) { inp.value = 0; });
      update();
    });
    update();
  }

  window.GengenExplorer = {model: model, latent: latent, decode: decode, mount: mount, SIDE: SIDE, SCALE: SCALE};
  core.mountAll(".gengen-explorer[data-decoder]", mount);
})();
