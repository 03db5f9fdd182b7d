// deformviz explore: find the units worth a figure.
//
// The geometry here mirrors deformviz.geometry exactly (tested against it to 0.01 px):
// - a unit is an output cell (oy, ox) of the top layer of the chain; level 1 are that layer's
//   K taps p0 + pn + dpn, level 2 the taps of the layer below placed at each level-1 point, ...
// - a filter at a (fractional) output position p of a layer: p0 + pn = p * stride - padding +
//   (i, j) * dilation, plus the offsets read at p by bilinear interpolation of the layer's
//   offset map (DCNv2 border rule: zero outside -1 < y < H, -1 < x < W, zero-padded
//   neighbours), tap k = i * kw + j paired with channels 2k (dy) and 2k + 1 (dx) of the
//   page's offset group (DATA.group, 0 unless `explore --group G`; its mask channel k too);
// - between layers, a point p in the upper layer's INPUT cells becomes the lower layer's
//   OUTPUT position q = (p * S_in(upper) + O_in(upper) - O_out(lower)) / S_out(lower);
// - a point of a map with grid (S, O) is at model-input pixel p * S + O, and at original pixel
//   (m + 0.5) * resize - 0.5 (centre-aligned resize);
// - DCNv2 masks (read like the offsets) multiply along a point's path; a point is active when
//   it and all its ancestors lie inside the map they sample (the figures draw active points);
// - effective dilation: mean length of the adjacent-tap segments of the unit's level-1 taps,
//   in the top layer's input cells.
// All arithmetic is float64 on float32 maps, in the same order as the Python code.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("deformviz-data").textContent);
  const decodeFloat32 = deformvizCommon.decodeFloat32, roundHalfEven = deformvizCommon.roundHalfEven;
  const el = deformvizCommon.el, fmt = deformvizCommon.fmt, shellQuote = deformvizCommon.shellQuote;

  // ---------------------------------------------------------------- data
  function grid(spec) {
    return { sy: spec.stride[0], sx: spec.stride[1], oy: spec.origin[0], ox: spec.origin[1] };
  }

  const LAYERS = DATA.layers.map(function (l) {
    return {
      name: l.label || l.name, qualified: l.name, kh: l.kernel_size[0], kw: l.kernel_size[1], K: l.kernel_size[0] * l.kernel_size[1],
      sy: l.stride[0], sx: l.stride[1], py: l.padding[0], px: l.padding[1],
      dy: l.dilation[0], dx: l.dilation[1], groups: l.offset_groups,
      inH: l.input_size[0], inW: l.input_size[1], outH: l.output_size[0], outW: l.output_size[1],
      inGrid: grid(l.input_grid), outGrid: grid(l.output_grid),
      offset: decodeFloat32(l.offset), mask: l.mask ? decodeFloat32(l.mask) : null,
    };
  });
  const IMAGE_H = DATA.image.height, IMAGE_W = DATA.image.width;
  const RESIZE_Y = IMAGE_H / DATA.resized_size[0], RESIZE_X = IMAGE_W / DATA.resized_size[1];
  const TOP = LAYERS[LAYERS.length - 1];
  const MODULATED = LAYERS.some(function (l) { return l.mask !== null; });
  const GROUP = DATA.group || 0;  // the offset group followed through every layer
  const GROUPED = LAYERS.some(function (l) { return l.groups > 1; });
  // colours.levels[i] = the figures' colour of the chain's layer i + 1 from the top: a level
  // keeps its colour whatever number of levels is shown.
  const MAX_LEVELS = Math.min(LAYERS.length, DATA.colours.levels.length);
  function levelColour(level) { return DATA.colours.levels[level - 1]; }

  // ---------------------------------------------------------------- geometry
  // Channels c0 .. c0 + n - 1 of a [C, H, W] map at (y, x), bilinear, DCNv2 zero padding.
  function readBilinear(values, c0, n, H, W, y, x) {
    const out = new Float64Array(n);
    if (!(y > -1 && y < H && x > -1 && x < W)) return out;
    const ly = Math.floor(y), lx = Math.floor(x), fy = y - ly, fx = x - lx;
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 2; b++) {
        const row = ly + a, col = lx + b;
        if (row < 0 || row >= H || col < 0 || col >= W) continue;
        const weight = (a ? fy : 1 - fy) * (b ? fx : 1 - fx);
        const base = row * W + col;
        for (let c = 0; c < n; c++) out[c] = out[c] + values[(c0 + c) * H * W + base] * weight;
      }
    }
    return out;
  }

  function cellToImage(g, cy, cx) {  // [x, y] original pixels of a cell of a map with grid g
    return [(cx * g.sx + g.ox + 0.5) * RESIZE_X - 0.5, (cy * g.sy + g.oy + 0.5) * RESIZE_Y - 0.5];
  }

  // The unit (top-layer output cell) nearest to original pixel (x, y): [cy, cx].
  function cellAt(x, y) {
    const g = TOP.outGrid;
    const cy = ((y + 0.5) / RESIZE_Y - 0.5 - g.oy) / g.sy;
    const cx = ((x + 0.5) / RESIZE_X - 0.5 - g.ox) / g.sx;
    return [Math.min(Math.max(roundHalfEven(cy), 0), TOP.outH - 1),
            Math.min(Math.max(roundHalfEven(cx), 0), TOP.outW - 1)];
  }

  // A unit's sampling points through `levels` layers.
  // Returns {cell, pixel [x, y], levels: [{layer, points [x0, y0, x1, y1, ...] original
  // pixels, cells (same, in the sampled map's cells, y first), active, weights}],
  // effectiveDilation}.
  function traceUnit(cell, levels) {
    let positions = [cell[0], cell[1]];
    let active = [true], weights = [1];
    const result = { cell: [cell[0], cell[1]], pixel: cellToImage(TOP.outGrid, cell[0], cell[1]),
                     levels: [], effectiveDilation: NaN };
    for (let level = 1; level <= levels; level++) {
      const index = LAYERS.length - level, layer = LAYERS[index];
      if (level > 1) {  // upper layer's input cells -> model-input pixels -> this layer's output cells
        const a = LAYERS[index + 1].inGrid, b = layer.outGrid;
        for (let i = 0; i < positions.length; i += 2) {
          positions[i] = (positions[i] * a.sy + a.oy - b.oy) / b.sy;
          positions[i + 1] = (positions[i + 1] * a.sx + a.ox - b.ox) / b.sx;
        }
      }
      const count = positions.length / 2, K = layer.K;
      const cells = new Float64Array(2 * count * K), pixels = new Float64Array(2 * count * K);
      const nextActive = new Uint8Array(count * K), nextWeights = new Float64Array(count * K);
      const g = layer.inGrid;
      for (let p = 0; p < count; p++) {
        const y = positions[2 * p], x = positions[2 * p + 1];
        const offsets = readBilinear(layer.offset, GROUP * 2 * K, 2 * K, layer.outH, layer.outW, y, x);
        const masks = layer.mask ? readBilinear(layer.mask, GROUP * K, K, layer.outH, layer.outW, y, x) : null;
        const cornerY = y * layer.sy - layer.py, cornerX = x * layer.sx - layer.px;
        for (let k = 0; k < K; k++) {
          const i = Math.floor(k / layer.kw), j = k % layer.kw, n = p * K + k;
          const py = cornerY + i * layer.dy + offsets[2 * k];
          const px = cornerX + j * layer.dx + offsets[2 * k + 1];
          cells[2 * n] = py; cells[2 * n + 1] = px;
          pixels[2 * n] = (px * g.sx + g.ox + 0.5) * RESIZE_X - 0.5;
          pixels[2 * n + 1] = (py * g.sy + g.oy + 0.5) * RESIZE_Y - 0.5;
          const inside = py > -1 && py < layer.inH && px > -1 && px < layer.inW;
          nextActive[n] = inside && active[p] ? 1 : 0;
          nextWeights[n] = masks ? weights[p] * masks[k] : weights[p];
        }
      }
      result.levels.push({ layer: layer.name, cells: cells, points: pixels,
                           active: nextActive, weights: nextWeights });
      positions = Array.from(cells);
      active = nextActive; weights = nextWeights;
      if (level === 1) result.effectiveDilation = effectiveDilation(cells, layer.kh, layer.kw);
    }
    return result;
  }

  // Mean length of the horizontally and vertically adjacent tap segments of one filter.
  function effectiveDilation(cells, kh, kw) {
    let total = 0, pairs = 0;
    function add(a, b) {
      total += Math.hypot(cells[2 * b] - cells[2 * a], cells[2 * b + 1] - cells[2 * a + 1]);
      pairs += 1;
    }
    for (let i = 0; i < kh; i++) for (let j = 0; j + 1 < kw; j++) add(i * kw + j, i * kw + j + 1);
    for (let i = 0; i + 1 < kh; i++) for (let j = 0; j < kw; j++) add(i * kw + j, (i + 1) * kw + j);
    return pairs ? total / pairs : NaN;
  }

  // ---------------------------------------------------------------- state
  const state = {
    levels: Math.min(DATA.levels, MAX_LEVELS),
    visible: {},            // level -> shown
    opacity: 0.9, pointSize: 1, modulation: true, detections: true, bins: true,
    hovered: null,          // [cy, cx]
    pinned: [],             // [{cell, pointer: [x, y]}]
    lastCopied: null,
  };
  for (let l = 1; l <= MAX_LEVELS; l++) state.visible[l] = true;
  const traces = new Map();  // "cy,cx,levels" -> trace
  function traceOf(cell) {
    const key = cell[0] + "," + cell[1] + "," + state.levels;
    if (!traces.has(key)) {
      if (traces.size > 4000) traces.clear();  // bounded memory on large maps
      traces.set(key, traceUnit(cell, state.levels));
    }
    return traces.get(key);
  }
  function pinIndex(cell) {
    return state.pinned.findIndex(function (p) { return p.cell[0] === cell[0] && p.cell[1] === cell[1]; });
  }

  // ---------------------------------------------------------------- drawing
  const canvas = document.getElementById("view");
  const context = canvas.getContext("2d");
  const picture = new Image();
  let scale = 1;  // CSS pixels per original pixel

  function layout() {
    scale = deformvizCommon.fitCanvas(canvas, context, document.getElementById("stage"),
                                      IMAGE_W, IMAGE_H);
    draw();
  }

  // Original pixel index coordinates -> canvas CSS pixels (pixel i spans [i, i + 1) * scale).
  function toCanvasPoint(x, y) { return [(x + 0.5) * scale, (y + 0.5) * scale]; }

  function drawBox(box, colour, width, dash) {
    context.save();
    context.strokeStyle = colour; context.lineWidth = width; context.setLineDash(dash || []);
    context.strokeRect(box[0] * scale, box[1] * scale, (box[2] - box[0]) * scale, (box[3] - box[1]) * scale);
    context.restore();
  }

  function drawDetections() {
    DATA.detections.forEach(function (det) {
      if (state.bins && det.deformed_bins) {
        det.deformed_bins.forEach(function (row) {
          row.forEach(function (bin) { drawBox(bin, DATA.colours.bin, 1.2); });
        });
      }
      if (state.detections) {
        drawBox(det.box, DATA.colours.box, 2);
        const label = det.label + " " + det.score.toFixed(2) +
          (det.head_label && det.head_label !== det.label ? " (head: " + det.head_label + ")" : "");
        deformvizCommon.drawLabel(context, label, det.box[0] * scale, det.box[1] * scale,
                                  DATA.colours.box);
      }
    });
  }

  const MIN_ALPHA = 0.15;  // opacity of a point whose modulation is 0 (the figures' too)
  const MARKER_PX = { 1: 5.5, 2: 4, 3: 2.6 };  // screen sizes of the figures' 3.6 / 2.4 / 1.5 pt squares

  // `faded`: a pinned unit drawn while another is under the pointer, so that one stands out.
  function drawUnit(trace, faded, label) {
    for (let level = trace.levels.length; level >= 1; level--) {  // deepest first: level 1 on top
      if (!state.visible[level]) continue;
      const data = trace.levels[level - 1];
      const size = (MARKER_PX[level] || 2.6) * state.pointSize;
      context.fillStyle = levelColour(level);
      context.strokeStyle = "#fff"; context.lineWidth = 0.8;
      // As the figures: opacity from |modulation| relative to the level's largest, at least
      // MIN_ALPHA (DCNv3's softmax products are small, DCNv4's raw masks may be negative).
      let top = 0;
      for (let n = 0; n < data.active.length; n++) {
        if (data.active[n]) top = Math.max(top, Math.abs(data.weights[n]));
      }
      for (let n = 0; n < data.active.length; n++) {
        if (!data.active[n]) continue;
        const relative = top > 0 ? Math.abs(data.weights[n]) / top : 0;
        const w = state.modulation && MODULATED ? MIN_ALPHA + (1 - MIN_ALPHA) * relative : 1;
        context.globalAlpha = state.opacity * w * (faded ? 0.35 : 1);
        const c = toCanvasPoint(data.points[2 * n], data.points[2 * n + 1]);
        context.fillRect(c[0] - size / 2, c[1] - size / 2, size, size);
        if (level === 1) context.strokeRect(c[0] - size / 2, c[1] - size / 2, size, size);
      }
    }
    context.globalAlpha = 1;
    const c = toCanvasPoint(trace.pixel[0], trace.pixel[1]);
    context.beginPath();
    context.arc(c[0], c[1], faded ? 5 : 6, 0, 2 * Math.PI);
    context.fillStyle = DATA.colours.unit; context.fill();
    context.strokeStyle = "#fff"; context.lineWidth = 1.5; context.stroke();
    if (label) {  // the pinned unit's number in the panel's list
      context.font = "bold 12px system-ui, sans-serif";
      context.lineWidth = 3; context.strokeStyle = "#fff"; context.fillStyle = "#000";
      context.strokeText(label, c[0] + 8, c[1] - 6);
      context.fillText(label, c[0] + 8, c[1] - 6);
    }
  }

  function shownCells() {
    const cells = state.pinned.map(function (p) { return p.cell; });
    if (state.hovered && pinIndex(state.hovered) < 0) cells.push(state.hovered);
    return cells;
  }

  function draw() {
    context.clearRect(0, 0, IMAGE_W * scale, IMAGE_H * scale);
    if (picture.complete && picture.naturalWidth) {
      context.drawImage(picture, 0, 0, IMAGE_W * scale, IMAGE_H * scale);
    }
    drawDetections();
    const hovering = state.hovered !== null && pinIndex(state.hovered) < 0;
    shownCells().forEach(function (cell) {
      const index = pinIndex(cell);
      drawUnit(traceOf(cell), hovering && index >= 0, index < 0 ? "" : String(index + 1));
    });
  }

  // ---------------------------------------------------------------- panel
  function describeUnit() {
    const box = document.getElementById("unit-info");
    const cell = state.hovered || (state.pinned.length ? state.pinned[state.pinned.length - 1].cell : null);
    box.textContent = "";
    if (!cell) { box.textContent = "point at the image"; return; }
    const trace = traceOf(cell);
    const rigid = TOP.dy === TOP.dx ? String(TOP.dy) : TOP.dy + "x" + TOP.dx;
    const pixelsPerCell = TOP.inGrid.sx * RESIZE_X;
    const lines = [
      ["cell (y, x)", "(" + cell[0] + ", " + cell[1] + ") of " + TOP.name],
      ["centre (x, y)", "(" + fmt(trace.pixel[0], 1) + ", " + fmt(trace.pixel[1], 1) + ") px"],
      ["effective dilation", fmt(trace.effectiveDilation) + " cells (rigid " + rigid + ")" +
        (TOP.inGrid.sy * RESIZE_Y === pixelsPerCell ? " = " + fmt(trace.effectiveDilation * pixelsPerCell, 1) + " px" : "")],
    ];
    trace.levels.forEach(function (lv, i) {
      let active = 0, sum = 0;
      for (let n = 0; n < lv.active.length; n++) { active += lv.active[n]; sum += lv.weights[n]; }
      let text = active + " of " + lv.active.length + " points in the map";
      if (MODULATED) text += ", mean modulation " + fmt(sum / lv.weights.length, 3);
      lines.push(["level " + (i + 1) + " (" + lv.layer + ")", text]);
    });
    deformvizCommon.infoRows(box, lines);
  }

  // The --at pixel of a pinned unit: its centre, rounded to 0.01 px and kept inside the image,
  // unless that would name another cell; then the pointer position that pinned it.
  function atPixel(pin) {
    const centre = cellToImage(TOP.outGrid, pin.cell[0], pin.cell[1]);
    let x = Math.min(Math.max(Number(centre[0].toFixed(2)), 0), IMAGE_W - 0.01);
    let y = Math.min(Math.max(Number(centre[1].toFixed(2)), 0), IMAGE_H - 0.01);
    const back = cellAt(x, y);
    if (back[0] !== pin.cell[0] || back[1] !== pin.cell[1]) { x = pin.pointer[0]; y = pin.pointer[1]; }
    return [fmt(x), fmt(y)];
  }

  function command() {
    if (!state.pinned.length) return "";
    const words = ["deformviz", "sample", shellQuote(DATA.command.image)]
      .concat(DATA.command.arguments.map(shellQuote));
    state.pinned.forEach(function (pin) { words.push("--at", ...atPixel(pin)); });
    words.push("--levels", String(state.levels));
    return words.join(" ");
  }

  function updatePanel() {
    const list = document.getElementById("pinned");
    list.textContent = "";
    state.pinned.forEach(function (pin, i) {
      const at = atPixel(pin);
      const item = el("li", {}, "(" + at[0] + ", " + at[1] + ") cell (" + pin.cell[0] + ", " + pin.cell[1] + ")");
      const remove = el("button", { type: "button", title: "unpin" }, "\u00d7");
      remove.addEventListener("click", function () { state.pinned.splice(i, 1); refresh(); });
      item.appendChild(remove);
      list.appendChild(item);
    });
    const text = command();
    document.getElementById("command").value = text || "(click units on the image to pin them)";
    document.getElementById("copy").disabled = !text;
    document.querySelectorAll("#levels button").forEach(function (b) {
      b.classList.toggle("on", Number(b.dataset.level) === state.levels);
    });
    document.querySelectorAll("#level-toggles label").forEach(function (label) {
      const level = Number(label.dataset.level);
      label.style.display = level > state.levels ? "none" : "";
      if (level <= state.levels) label.querySelector(".swatch").style.background = levelColour(level);
    });
    document.querySelectorAll("#legend li[data-level]").forEach(function (item) {
      const level = Number(item.dataset.level);
      item.style.display = level > state.levels ? "none" : "";
      if (level <= state.levels) item.querySelector(".swatch").style.background = levelColour(level);
    });
    describeUnit();
  }

  function refresh() { updatePanel(); draw(); }

  function buildPanel() {
    document.getElementById("title").textContent =
      DATA.image.name + " \u2014 " + DATA.model.name + " (" + IMAGE_W + "\u00d7" + IMAGE_H + " px)";
    const levels = document.getElementById("levels");
    const toggles = document.getElementById("level-toggles");
    for (let l = 1; l <= MAX_LEVELS; l++) {
      const points = LAYERS.slice(LAYERS.length - l).reduce(function (n, layer) { return n * layer.K; }, 1);
      const button = el("button", { type: "button", "data-level": String(l), title: points + " points per unit" }, String(l));
      button.addEventListener("click", function () { setLevels(l); });
      levels.appendChild(button);
      const label = el("label", { "data-level": String(l) });
      const box = el("input", { type: "checkbox", "data-level": String(l) });
      box.checked = true;
      box.addEventListener("change", function () { state.visible[l] = box.checked; refresh(); });
      label.appendChild(box);
      label.appendChild(el("span", { class: "swatch" }));  // coloured by updatePanel
      label.appendChild(document.createTextNode("level " + l + ": " + LAYERS[LAYERS.length - l].name +
        " (" + points + " points)"));
      toggles.appendChild(label);
    }
    const bind = function (id, key, parse) {
      const input = document.getElementById(id);
      input.addEventListener("input", function () {
        state[key] = parse(input); refresh();
      });
    };
    bind("opacity", "opacity", function (i) { return Number(i.value); });
    bind("point-size", "pointSize", function (i) { return Number(i.value); });
    bind("modulation", "modulation", function (i) { return i.checked; });
    bind("show-detections", "detections", function (i) { return i.checked; });
    bind("show-bins", "bins", function (i) { return i.checked; });
    if (!MODULATED) document.getElementById("modulation-row").style.display = "none";
    if (!DATA.detections.length) document.getElementById("detections-row").style.display = "none";
    if (!DATA.detections.some(function (d) { return d.deformed_bins; })) {
      document.getElementById("bins-row").style.display = "none";
    }
    const legend = document.getElementById("legend");
    const entry = function (colour, round, text, level) {
      const item = el("li", level ? { "data-level": String(level) } : {});
      const swatch = el("span", { class: "swatch" + (round ? " round" : "") });
      swatch.style.background = colour;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(text));
      legend.appendChild(item);
    };
    entry(DATA.colours.unit, true, "unit (output cell of " + TOP.name + ")");
    for (let l = 1; l <= MAX_LEVELS; l++) {
      entry("", false, "level " + l + " sampling points (" + LAYERS[LAYERS.length - l].name + ")", l);
    }
    if (DATA.detections.length) entry(DATA.colours.box, false, "detection");
    if (DATA.detections.some(function (d) { return d.deformed_bins; })) entry(DATA.colours.bin, false, "deformed RoI bins");
    document.getElementById("network").textContent = DATA.model.architecture +
      "; model input " + DATA.resized_size[1] + "\u00d7" + DATA.resized_size[0] + " px" +
      (GROUPED ? "; offset group " + GROUP : "") +
      (MODULATED ? "; opacity shows the modulation along each path, relative to the level's largest" : "") + ".";
    document.getElementById("clear").addEventListener("click", function () { state.pinned = []; refresh(); });
    document.getElementById("copy").addEventListener("click", copyCommand);
  }

  function setLevels(l) {
    if (l >= 1 && l <= MAX_LEVELS) { state.levels = l; refresh(); }
  }

  function copyCommand() {
    const text = command();
    deformvizCommon.copyCommand(text, function () { state.lastCopied = text; });
  }

  // ---------------------------------------------------------------- input
  function pointerPixel(event) { return deformvizCommon.pointerPixel(canvas, event, scale); }
  function insideImage(p) { return deformvizCommon.insideImage(p, IMAGE_W, IMAGE_H); }

  canvas.addEventListener("pointermove", function (event) {
    const p = pointerPixel(event);
    const cell = insideImage(p) ? cellAt(p[0], p[1]) : null;
    const old = state.hovered;
    if ((cell === null) !== (old === null) || (cell && (cell[0] !== old[0] || cell[1] !== old[1]))) {
      state.hovered = cell; refresh();
    }
  });
  canvas.addEventListener("pointerleave", function () { state.hovered = null; refresh(); });
  canvas.addEventListener("click", function (event) {
    const p = pointerPixel(event);
    if (!insideImage(p)) return;
    const x = Math.min(Math.max(p[0], 0), IMAGE_W - 0.01), y = Math.min(Math.max(p[1], 0), IMAGE_H - 0.01);
    const cell = cellAt(x, y), index = pinIndex(cell);
    if (index >= 0) state.pinned.splice(index, 1);
    else state.pinned.push({ cell: cell, pointer: [Number(x.toFixed(2)), Number(y.toFixed(2))] });
    refresh();
  });
  document.addEventListener("keydown", function (event) {
    if (event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement) return;
    if (/^[1-9]$/.test(event.key)) setLevels(Number(event.key));
    else if (event.key === "c") { state.pinned = []; refresh(); }
  });
  window.addEventListener("resize", layout);

  // ---------------------------------------------------------------- for scripts and tests
  function plain(trace) {
    return {
      cell: trace.cell, pixel: trace.pixel, effectiveDilation: trace.effectiveDilation,
      levels: trace.levels.map(function (lv) {
        const points = [];
        for (let n = 0; n < lv.active.length; n++) points.push([lv.points[2 * n], lv.points[2 * n + 1]]);
        return { layer: lv.layer, points: points, active: Array.from(lv.active, Boolean),
                 weights: Array.from(lv.weights) };
      }),
    };
  }
  window.deformvizExplore = {
    data: DATA,
    trace: function (cy, cx, levels) { return plain(traceUnit([cy, cx], levels || state.levels)); },
    cellAt: cellAt,
    // Where the image lies in the viewport: {left, top} CSS pixels and CSS pixels per image pixel.
    view: function () { return deformvizCommon.viewOf(canvas, scale); },
    // Viewport (client) coordinates of original pixel (x, y).
    toClient: function (x, y) { return deformvizCommon.toClient(canvas, scale, x, y); },
    shown: function () {
      return shownCells().map(function (cell) {
        return Object.assign(plain(traceOf(cell)), { pinned: pinIndex(cell) >= 0 });
      });
    },
    command: command,
    setLevels: setLevels,
    lastCopied: function () { return state.lastCopied; },
    forgetCopied: function () { state.lastCopied = null; },
  };

  buildPanel();
  updatePanel();
  picture.addEventListener("load", function () { layout(); document.body.dataset.ready = "true"; });
  picture.src = DATA.image.uri;
  layout();
})();
