/* gengen latent walk: the GAN generator run in the page, no Python kernel needed.
 * Needs explorer-core.js (window.GengenCore) and explorer.css.
 *
 * The weights come from generator_*.js files (written by gengen_lib/export/gan.py), which assign
 * window.GENGEN_GENERATORS[name] = {z_dim, widths, negative_slope, layers, seeds, codes, ...}:
 * five linear layers with batch norm already folded in, and the latent code of each seed as the
 * GAN chapter draws it (float32).
 *
 * Every element <div class="gengen-explorer" data-generator="NAME"></div> becomes a walk between
 * two codes A and B (a seed from the bank, or a fresh draw z ~ N(0, I) made here):
 *   z(t) = lerp(A, B, t) or slerp(A, B, t)    (gengen_lib.latent's definitions, in float64)
 *   x = tanh(W5 h4 + b5),  h_i = leaky_relu(W_i h_{i-1} + b_i, 0.2),  h_0 = z(t)
 * drawn as a 28 x 28 image of (x + 1) / 2, black on white, each pixel a SCALE x SCALE block with
 * the grey level round(255 * (1 - (x + 1) / 2)); below it the FRAMES images at t = 0, 1/8, ..., 1
 * along both paths, and the length |z(t)| along both against the prior's typical radius sqrt(d).
 * The root element gets a property gengenWalk = {a, b, method, t, z}: the walk now shown, and
 * data-busy while the strips of new endpoints are being generated (in slices: GengenCore.inSlices).
 */
(function () {
  "use strict";

  var core = window.GengenCore;
  var SIDE = 28;
  var SCALE = 8;
  var FRAMES = 9;
  var STRIP_SCALE = 2;
  var STRIP_GAP = 4;
  var COLORS = {slerp: "#1f6fb4", lerp: "#e0700b"};
  var PATHS = [["slerp", "spherical (slerp)"], ["lerp", "linear (lerp)"]];
  var el = core.el;

  var models = {};

  function model(name) {
    if (models[name]) return models[name];
    var doc = core.documentOf("GENGEN_GENERATORS", name, "generator_" + name + ".js");
    var codes = core.array(doc.codes, "float32");
    models[name] = {
      doc: doc, zDim: doc.z_dim, hidden: core.leakyRelu(doc.negative_slope),
      layers: doc.layers.map(function (l) { return core.layer(l, doc.dtype); }),
      code: function (i) { return Float64Array.from(codes.subarray(i * doc.z_dim, (i + 1) * doc.z_dim)); }
    };
    return models[name];
  }

  function toInk(a) { return (Math.tanh(a) + 1) / 2; }

  // Latent code (z_dim) -> ink (784) in [0, 1]: (tanh(...) + 1) / 2 through the folded layers.
  function generate(m, z) {
    var last = m.layers.length - 1;
    return m.layers.reduce(function (h, l, k) { return core.dense(l, h, 1, k === last ? toInk : m.hidden); }, z);
  }

  function dot(a, b) {
    var s = 0;
    for (var i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }

  function norm(z) { return Math.sqrt(dot(z, z)); }

  function scaled(z, s) { return z.map(function (v) { return v * s; }); }

  function lerp(z0, z1, t) {
    return z0.map(function (v, i) { return (1 - t) * v + t * z1[i]; });
  }

  // z / |z|, or the fallback where z = 0 (gengen_lib.latent._unit).
  function unit(z, n, fallback) { return n === 0 ? Float64Array.from(fallback) : scaled(z, 1 / n); }

  // A unit vector orthogonal to the unit vector u, along the (first) axis least aligned with u.
  function orthogonalUnit(u) {
    var k = 0;
    for (var i = 1; i < u.length; i++) if (Math.abs(u[i]) < Math.abs(u[k])) k = i;
    var w = scaled(u, -u[k]);
    w[k] += 1;
    return scaled(w, 1 / norm(w));
  }

  // gengen_lib.latent.slerp, step for step: the direction turns along the great circle at constant
  // angular speed (angle from atan2), the norm goes linearly from |z0| to |z1|; antiparallel
  // endpoints turn through a fixed orthogonal direction, a zero endpoint takes the other's direction.
  function slerp(z0, z1, t, eps) {
    eps = eps === undefined ? 1e-6 : eps;
    var n0 = norm(z0), n1 = norm(z1);
    var u1 = unit(z1, n1, new Float64Array(z1.length));
    var u0 = unit(z0, n0, u1);
    u1 = unit(z1, n1, u0);
    var cos = dot(u0, u1);
    var rest = u1.map(function (v, i) { return v - cos * u0[i]; });
    var sin = norm(rest);
    var omega = Math.atan2(sin, cos);
    var w = sin > eps ? scaled(rest, 1 / sin) : orthogonalUnit(u0);
    var along = dot(w, u0);
    w = w.map(function (v, i) { return v - along * u0[i]; });
    w = scaled(w, 1 / norm(w));
    var c = Math.cos(t * omega), s = Math.sin(t * omega), r = (1 - t) * n0 + t * n1;
    return u0.map(function (v, i) { return (c * v + s * w[i]) * r; });
  }

  var PATH = {lerp: lerp, slerp: slerp};

  // n independent standard normal numbers (Box-Muller).
  function gaussian(n) {
    var z = new Float64Array(n);
    for (var i = 0; i < n; i += 2) {
      var r = Math.sqrt(-2 * Math.log(1 - Math.random())), a = 2 * Math.PI * Math.random();
      z[i] = r * Math.cos(a);
      if (i + 1 < n) z[i + 1] = r * Math.sin(a);
    }
    return z;
  }

  // The FRAMES images along one path, side by side, and a mark under the position t.
  function drawStrip(canvas, frames, t) {
    var ctx = canvas.getContext("2d"), w = SIDE * STRIP_SCALE, step = w + STRIP_GAP;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    frames.forEach(function (ink, f) { core.drawDigit(canvas, ink, SIDE, STRIP_SCALE, f * step, 0); });
    var cx = w / 2 + t * (FRAMES - 1) * step;
    ctx.fillStyle = "#444";
    ctx.beginPath();
    ctx.moveTo(cx, w + 2);
    ctx.lineTo(cx - 5, w + 9);
    ctx.lineTo(cx + 5, w + 9);
    ctx.closePath();
    ctx.fill();
  }

  // |z(t)| along both paths (101 points each), the prior's typical radius sqrt(d), a mark at t.
  function drawNorms(canvas, curves, t, zDim) {
    var ratio = 2, W = canvas.width / ratio, H = canvas.height / ratio;
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    var radius = Math.sqrt(zDim);
    var top = Math.max(radius, Math.max.apply(null, curves.slerp.concat(curves.lerp))) * 1.2;
    var left = 30, right = W - 10, up = 8, bottom = H - 30;
    function X(s) { return left + s * (right - left); }
    function Y(v) { return bottom - (v / top) * (bottom - up); }
    function line(x0, y0, x1, y1) { ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke(); }
    ctx.font = "12px sans-serif";
    ctx.fillStyle = "#333";
    ctx.strokeStyle = "#ddd";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    var tick = top > 25 ? 10 : 5;
    for (var v = 0; v <= top; v += tick) {
      line(left, Y(v), right, Y(v));
      ctx.fillText(String(v), left - 5, Y(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    [0, 0.25, 0.5, 0.75, 1].forEach(function (s) { ctx.fillText(String(s), X(s), bottom + 4); });
    ctx.fillText("t", (left + right) / 2, bottom + 16);
    ctx.strokeStyle = "#777";
    line(X(t), up, X(t), bottom);
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = "#555";
    line(left, Y(radius), right, Y(radius));
    ctx.setLineDash([]);
    ctx.textAlign = "left";
    ctx.textBaseline = "bottom";
    ctx.fillText("\u221ad = " + Math.round(radius * 100) / 100 + ": the prior's typical |z|", left + 6, Y(radius) - 3);
    PATHS.forEach(function (p, k) {
      var ys = curves[p[0]], color = COLORS[p[0]];
      ctx.strokeStyle = ctx.fillStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ys.forEach(function (y, i) {
        var x = X(i / (ys.length - 1));
        if (i) ctx.lineTo(x, Y(y)); else ctx.moveTo(x, Y(y));
      });
      ctx.stroke();
      var at = ys[Math.round(t * (ys.length - 1))];
      ctx.beginPath(); ctx.arc(X(t), Y(at), 3.5, 0, 2 * Math.PI); ctx.fill();
      var ly = Y(0) - 34 + 16 * k;
      line(left + 8, ly, left + 28, ly);
      ctx.textBaseline = "middle";
      ctx.fillText("|z(t)| along the " + p[1] + " path", left + 34, ly);
    });
  }

  var counter = 0;

  // One endpoint's row: a seed of the bank or a fresh draw ("draw new"); changed() after each choice.
  // Returns {code()}: the endpoint's latent code now.
  function endpointPicker(panel, id, end, m, seed, changed) {
    var row = panel.appendChild(el("div", {"class": "gx-pick"})), drawn = null;
    row.appendChild(el("label", {"for": id + "-" + end}, end.toUpperCase()));
    var select = row.appendChild(el("select", {id: id + "-" + end, "data-end": end}));
    m.doc.seeds.forEach(function (s, i) { select.appendChild(el("option", {value: String(i)}, "seed " + s)); });
    var fresh = select.appendChild(el("option", {value: "new"}, "new draw"));
    fresh.hidden = true;
    var button = row.appendChild(el("button", {type: "button", "data-end": end}, "draw new " + end.toUpperCase()));
    select.value = String(m.doc.seeds.indexOf(seed));
    select.addEventListener("change", changed);
    button.addEventListener("click", function () {
      drawn = gaussian(m.zDim);
      fresh.hidden = false;
      select.value = "new";
      changed();
    });
    return {code: function () { return select.value === "new" ? drawn : m.code(Number(select.value)); }};
  }

  // The strip of each path under the controls: {path: {canvas, box, frames}}.
  function stripsLayout(root) {
    var strips = {}, stripRow = root.appendChild(el("div", {"class": "gx-strips"}));
    PATHS.forEach(function (p) {
      var box = stripRow.appendChild(el("div", {"class": "gx-strip", "data-path": p[0]}));
      box.appendChild(el("p", {"class": "gx-strip-label", style: "border-color: " + COLORS[p[0]]},
        p[1] + ", t = 0, 1/8, \u2026, 1"));
      strips[p[0]] = {
        box: box, frames: [],
        canvas: box.appendChild(el("canvas", {
          width: FRAMES * SIDE * STRIP_SCALE + (FRAMES - 1) * STRIP_GAP, height: SIDE * STRIP_SCALE + 10,
          role: "img", "aria-label": "nine images along the " + p[1] + " path"
        }))
      };
    });
    return strips;
  }

  // The image at frame f of FRAMES along path from a to b, appended to frames.
  function frameStep(m, path, a, b, f, frames) {
    return function () { frames.push(generate(m, path(a, b, f / (FRAMES - 1)))); };
  }

  // The big image, the endpoints, the path and t; the strips and the chart of |z(t)| below.
  function walkLayout(root, m, id, changed) {
    var ui = {}, a = Number(root.getAttribute("data-seed-a") || 1), b = Number(root.getAttribute("data-seed-b") || 2);
    root.textContent = "";
    root.appendChild(el("h4", {}, root.getAttribute("data-title") || "generator " + m.doc.name));
    var body = root.appendChild(el("div", {"class": "gx-body"}));
    ui.canvas = body.appendChild(el("canvas", {
      "class": "gx-image", width: SIDE * SCALE, height: SIDE * SCALE, role: "img",
      "aria-label": "the image the generator makes from the code z(t)"
    }));
    var panel = body.appendChild(el("div", {"class": "gx-sliders"}));
    ui.ends = {a: endpointPicker(panel, id, "a", m, a, changed), b: endpointPicker(panel, id, "b", m, b, changed)};
    var pathRow = panel.appendChild(el("div", {"class": "gx-pick"}));
    pathRow.appendChild(el("label", {"for": id + "-path"}, "path"));
    ui.method = pathRow.appendChild(el("select", {id: id + "-path"}));
    PATHS.forEach(function (p) { ui.method.appendChild(el("option", {value: p[0]}, p[1])); });
    var row = panel.appendChild(el("div", {"class": "gx-slider"}));
    row.appendChild(el("label", {"for": id + "-t"}, "t"));
    ui.slider = row.appendChild(el("input", {type: "range", id: id + "-t", min: 0, max: 1, step: 0.01, value: 0.5}));
    ui.readout = row.appendChild(el("output", {"for": id + "-t"}));
    ui.zline = panel.appendChild(el("p", {"class": "gx-z"}));
    ui.strips = stripsLayout(root);
    ui.chart = root.appendChild(el("div", {"class": "gx-chart"})).appendChild(el("canvas", {
      width: 2 * 340, height: 2 * 180, role: "img", "aria-label": "the length of z(t) along both paths"
    }));
    var sub = (root.getAttribute("data-subtitle") || "") + (m.doc.info.model ? " Weights: " + m.doc.info.model + "." : "");
    if (sub) root.appendChild(el("p", {"class": "gx-sub"}, sub.trim()));
    return ui;
  }

  function mount(root) {
    var m = model(root.getAttribute("data-generator")), codes = {}, curves = {};
    var ui = walkLayout(root, m, "gw" + (++counter), endpointsChanged);

    // The big image and the norms redraw at once; the strips' 2 x FRAMES images are generated in
    // slices (root's data-busy until they are drawn), so a new endpoint never stops the page.
    function endpointsChanged() {
      var next = {}, steps = [];
      codes = {a: ui.ends.a.code(), b: ui.ends.b.code()};
      PATHS.forEach(function (p) {
        var path = PATH[p[0]];
        next[p[0]] = [];
        for (var f = 0; f < FRAMES; f++) steps.push(frameStep(m, path, codes.a, codes.b, f, next[p[0]]));
        curves[p[0]] = [];
        for (var i = 0; i <= 100; i++) curves[p[0]].push(norm(path(codes.a, codes.b, i / 100)));
      });
      update();
      core.inSlices(root, steps, function () {
        PATHS.forEach(function (p) { ui.strips[p[0]].frames = next[p[0]]; });
        update();
      });
    }

    function update() {
      var t = Number(ui.slider.value), name = ui.method.value, other = name === "slerp" ? "lerp" : "slerp";
      var z = PATH[name](codes.a, codes.b, t);
      ui.readout.textContent = t.toFixed(2);
      ui.zline.textContent = "|z(t)| = " + norm(z).toFixed(2) + " (" + other + ": " +
        norm(PATH[other](codes.a, codes.b, t)).toFixed(2) + "); \u221a" + m.zDim + " = " + Math.sqrt(m.zDim).toFixed(0);
      core.drawDigit(ui.canvas, generate(m, z), SIDE, SCALE);
      PATHS.forEach(function (p) {
        drawStrip(ui.strips[p[0]].canvas, ui.strips[p[0]].frames, t);
        ui.strips[p[0]].box.classList.toggle("gx-active", p[0] === name);
      });
      drawNorms(ui.chart, curves, t, m.zDim);
      root.gengenWalk = {a: codes.a, b: codes.b, method: name, t: t, z: z};
    }

    ui.slider.addEventListener("input", update);
    ui.method.addEventListener("change", update);
    endpointsChanged();
  }

  window.GengenGAN = {
    model: model, generate: generate, lerp: lerp, slerp: slerp, gaussian: gaussian, mount: mount,
    SIDE: SIDE, SCALE: SCALE, FRAMES: FRAMES, STRIP_SCALE: STRIP_SCALE, STRIP_GAP: STRIP_GAP
  };
  core.mountAll(".gengen-explorer[data-generator]", mount);
})();
