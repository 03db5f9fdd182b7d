// deformviz explore for deformable-attention networks (Deformable DETR family).
//
// The page draws queries whose points Python has already mapped to original-image pixels
// (deformviz.visualize.attention_sampling.attention_units, the function `sample` draws with):
// nothing is recomputed here except which query the pointer is over:
// - a detection: the decoder query that predicted it (the smallest box under the pointer);
// - an encoder cell: the cell of the chosen level nearest to the pointer, found exactly as
//   `sample --at X Y --level L` finds it (deformviz.visualize.attention_sampling
//   .encoder_query_at): original pixel -> model-input pixel (y + 0.5) / resize - 0.5 -> cell
//   round((input - origin) / stride), half to even as Python rounds, clamped to the map.
// Points are drawn as the figures draw them (deformviz.plotting.attention): colour = weight
// on the figures' colour map normalised to the largest weight shown, side growing with the
// square root of the weight, marker by level, the reference point as a green cross.
"use strict";
(function () {
  const common = deformvizCommon;
  const el = common.el, fmt = common.fmt;
  const DATA = JSON.parse(document.getElementById("deformviz-data").textContent);
  const IMAGE_H = DATA.image.height, IMAGE_W = DATA.image.width;
  const RESIZE_Y = DATA.resize[0], RESIZE_X = DATA.resize[1];
  const LEVELS = DATA.levels.map(function (l) {
    return { H: l.shape[0], W: l.shape[1], sy: l.stride[0], sx: l.stride[1],
             oy: l.origin[0], ox: l.origin[1] };
  });
  const COLOURS = DATA.colours;

  // ---------------------------------------------------------------- data
  function block(spec) {  // one QueryBlock: N queries of M heads x L levels x K points
    const shape = spec.points.shape;
    return { queries: spec.queries, M: shape[1], L: shape[2], K: shape[3],
             points: common.decodeFloat32(spec.points), weights: common.decodeFloat32(spec.weights),
             references: common.decodeFloat32(spec.references) };
  }
  const DECODER = DATA.decoder.map(function (layer) {
    return { name: layer.name, label: layer.label, block: block(layer.blocks[0]) };
  });
  const ENCODER = DATA.encoder && {
    name: DATA.encoder.name, label: DATA.encoder.label,
    blocks: DATA.encoder.levels.reduce(function (map, level, i) {
      map[level] = block(DATA.encoder.blocks[i]); return map;
    }, {}),
  };
  const ENCODER_LEVELS = DATA.encoder ? DATA.encoder.levels : [];
  const ANY = DECODER.length ? DECODER[0].block : ENCODER.blocks[ENCODER_LEVELS[0]];
  const HEADS = ANY.M, LEVEL_COUNT = ANY.L;

  // A query as the page knows it: {kind: "decoder", n (index among the detections), query}
  // or {kind: "encoder", level, cell: [row, col], n (index in the level's block), query}.
  function sameQuery(a, b) {
    return a !== null && b !== null && a.kind === b.kind && a.query === b.query;
  }

  function blockOf(q) {
    return q.kind === "decoder" ? DECODER[state.decoderLayer].block : ENCODER.blocks[q.level];
  }

  function layerOf(q) { return q.kind === "decoder" ? DECODER[state.decoderLayer] : ENCODER; }

  // The query's reference [x, y], and its points / weights in [head][level][point] order.
  function queryData(q) {
    const b = blockOf(q), size = b.M * b.L * b.K;
    return { M: b.M, L: b.L, K: b.K,
             reference: [b.references[2 * q.n], b.references[2 * q.n + 1]],
             points: b.points.subarray(2 * size * q.n, 2 * size * (q.n + 1)),
             weights: b.weights.subarray(size * q.n, size * (q.n + 1)) };
  }

  // ---------------------------------------------------------------- which query
  function detectionAt(x, y) {  // the smallest detection box holding pixel (x, y), or null
    let best = null, area = Infinity;
    DATA.detections.forEach(function (det, n) {
      const b = det.box, cx = x + 0.5, cy = y + 0.5;  // index -> continuous coordinates
      if (cx >= b[0] && cx <= b[2] && cy >= b[1] && cy <= b[3]) {
        const a = (b[2] - b[0]) * (b[3] - b[1]);
        if (a < area) { area = a; best = { kind: "decoder", n: n, query: det.query }; }
      }
    });
    return best;
  }

  function cellAt(level, x, y) {  // as encoder_query_at: the nearest cell [row, col]
    const g = LEVELS[level];
    const inputY = (y + 0.5) / RESIZE_Y - 0.5, inputX = (x + 0.5) / RESIZE_X - 0.5;
    const row = common.roundHalfEven((inputY - g.oy) / g.sy);
    const col = common.roundHalfEven((inputX - g.ox) / g.sx);
    return [Math.min(Math.max(row, 0), g.H - 1), Math.min(Math.max(col, 0), g.W - 1)];
  }

  function encoderQueryAt(level, x, y) {
    const cell = cellAt(level, x, y), n = cell[0] * LEVELS[level].W + cell[1];
    return { kind: "encoder", level: level, cell: cell, n: n,
             query: ENCODER.blocks[level].queries[n] };
  }

  function cellCentre(level, cell) {  // [x, y] original pixels of a cell's centre
    const g = LEVELS[level];
    return [(cell[1] * g.sx + g.ox + 0.5) * RESIZE_X - 0.5, (cell[0] * g.sy + g.oy + 0.5) * RESIZE_Y - 0.5];
  }

  // ---------------------------------------------------------------- state
  const state = {
    mode: DECODER.length ? "detections" : ENCODER_LEVELS[0],  // or an encoder level (0 = finest)
    decoderLayer: DATA.decoder_shown,
    heads: new Array(HEADS).fill(true), levels: new Array(LEVEL_COUNT).fill(true),
    minWeight: 0, colourByWeight: true, sizeByWeight: true, pointSize: 1, detections: true,
    hovered: null, pinned: [],  // pinned: [{query, pointer: [x, y]}]
    lastCopied: null,
  };
  function pinIndex(q) { return state.pinned.findIndex(function (p) { return sameQuery(p.query, q); }); }
  function shownQueries() {
    const queries = state.pinned.map(function (p) { return p.query; });
    if (state.hovered && pinIndex(state.hovered) < 0) queries.push(state.hovered);
    return queries;
  }

  // A point of a level with fewer points than K (D-FINE) is padding: NaN, never drawn.
  function isPoint(d, i) { return Number.isFinite(d.points[2 * i]); }

  // Indices (h * L + l) * K + k of the points a query shows: toggled heads and levels, at or
  // above the min weight.
  function visiblePoints(d) {
    const chosen = [];
    for (let h = 0; h < d.M; h++) {
      if (!state.heads[h]) continue;
      for (let l = 0; l < d.L; l++) {
        if (!state.levels[l]) continue;
        for (let k = 0; k < d.K; k++) {
          const i = (h * d.L + l) * d.K + k;
          if (isPoint(d, i) && d.weights[i] >= state.minWeight) chosen.push(i);
        }
      }
    }
    return chosen;
  }

  // One colour scale for everything shown (as the figures' shared colour bar): 0 .. the
  // largest weight drawn.
  function largestShown() {
    let top = 0;
    shownQueries().forEach(function (q) {
      const d = queryData(q);
      visiblePoints(d).forEach(function (i) { top = Math.max(top, d.weights[i]); });
    });
    return top;
  }

  // ---------------------------------------------------------------- drawing
  const canvas = document.getElementById("view");
  const context = canvas.getContext("2d");
  const picture = new Image();
  let scale = 1;  // CSS pixels per original pixel

  function layout() {
    scale = common.fitCanvas(canvas, context, document.getElementById("stage"), IMAGE_W, IMAGE_H);
    draw();
  }

  function toCanvas(x, y) { return [(x + 0.5) * scale, (y + 0.5) * scale]; }  // index coords

  function colourOf(relative) {
    const map = COLOURS.colormap;
    return map[Math.min(map.length - 1, Math.max(0, Math.round(relative * (map.length - 1))))];
  }

  // A level's marker (the figures' matplotlib markers) of side `s` centred at (cx, cy).
  function markerPath(marker, cx, cy, s) {
    const r = s / 2;
    context.beginPath();
    if (marker === "o") { context.arc(cx, cy, r, 0, 2 * Math.PI); return; }
    if (marker === "s") { context.rect(cx - r, cy - r, s, s); return; }
    const corners = { "^": [90, 210, 330], "v": [270, 30, 150], "D": [90, 180, 270, 0],
                      "p": [90, 162, 234, 306, 18] }[marker] || [90, 180, 270, 0];
    const radius = marker === "D" ? r * 1.2 : r * 1.25;
    corners.forEach(function (degrees, i) {
      const a = degrees * Math.PI / 180, px = cx + radius * Math.cos(a), py = cy - radius * Math.sin(a);
      if (i === 0) context.moveTo(px, py); else context.lineTo(px, py);
    });
    context.closePath();
  }

  function marker(level) { return COLOURS.markers[level % COLOURS.markers.length]; }

  const MIN_SIDE = 4.5, MAX_SIDE = 11;  // screen pixels of the lightest and heaviest points

  function drawQuery(q, top, faded, label) {
    const d = queryData(q);
    const chosen = visiblePoints(d).sort(function (a, b) { return d.weights[a] - d.weights[b]; });
    context.save();
    context.globalAlpha = faded ? 0.35 : 1;
    if (q.kind === "encoder") {  // the cell itself, one stride wide
      const g = LEVELS[q.level], c = cellCentre(q.level, q.cell);
      const w = g.sx * RESIZE_X * scale, h = g.sy * RESIZE_Y * scale, p = toCanvas(c[0], c[1]);
      [["#fff", 3.5], [COLOURS.reference, 1.5]].forEach(function (stroke) {
        context.strokeStyle = stroke[0]; context.lineWidth = stroke[1];
        context.strokeRect(p[0] - w / 2, p[1] - h / 2, w, h);
      });
    }
    chosen.forEach(function (i) {
      const level = Math.floor(i / d.K) % d.L, relative = top > 0 ? d.weights[i] / top : 0;
      const side = (state.sizeByWeight ? MIN_SIDE + (MAX_SIDE - MIN_SIDE) * Math.sqrt(Math.min(relative, 1))
                                       : (MIN_SIDE + MAX_SIDE) / 2) * state.pointSize;
      const p = toCanvas(d.points[2 * i], d.points[2 * i + 1]);
      markerPath(marker(level), p[0], p[1], side);
      context.fillStyle = state.colourByWeight ? colourOf(relative) : COLOURS.colormap[COLOURS.colormap.length - 1];
      context.fill();
      context.strokeStyle = "#fff"; context.lineWidth = 0.7; context.stroke();
    });
    const r = toCanvas(d.reference[0], d.reference[1]);  // the reference: an open cross
    [["#fff", 4.5], [COLOURS.reference, 2.2]].forEach(function (stroke) {
      context.strokeStyle = stroke[0]; context.lineWidth = stroke[1];
      context.beginPath();
      context.moveTo(r[0] - 8, r[1]); context.lineTo(r[0] + 8, r[1]);
      context.moveTo(r[0], r[1] - 8); context.lineTo(r[0], r[1] + 8);
      context.stroke();
    });
    if (label) {
      context.font = "bold 12px system-ui, sans-serif";
      context.lineWidth = 3; context.strokeStyle = "#fff"; context.fillStyle = "#000";
      context.strokeText(label, r[0] + 9, r[1] - 7); context.fillText(label, r[0] + 9, r[1] - 7);
    }
    context.restore();
    return chosen.length;
  }

  function drawDetections(highlighted) {
    DATA.detections.forEach(function (det, n) {
      const strong = highlighted.indexOf(n) >= 0;
      if (!state.detections && !strong) return;
      const b = det.box, pointing = state.mode === "detections";
      context.save();
      context.strokeStyle = COLOURS.box; context.lineWidth = strong ? 3 : 1.5;
      context.globalAlpha = strong || pointing ? 1 : 0.35;  // over encoder cells: a faint hint
      context.strokeRect(b[0] * scale, b[1] * scale, (b[2] - b[0]) * scale, (b[3] - b[1]) * scale);
      if (strong || pointing) {
        common.drawLabel(context, det.label + " " + det.score.toFixed(2), b[0] * scale,
                         b[1] * scale, COLOURS.box);
      }
      context.restore();
    });
  }

  function drawColourbar(top) {
    const bar = document.getElementById("colourbar-canvas"), c = bar.getContext("2d");
    for (let x = 0; x < bar.width; x++) {
      c.fillStyle = colourOf(x / (bar.width - 1)); c.fillRect(x, 0, 1, bar.height);
    }
    document.getElementById("colourbar-high").textContent = top > 0 ? fmt(top, 3) : "";
    document.getElementById("colourbar").style.visibility = state.colourByWeight ? "" : "hidden";
  }

  let drawnPoints = [];  // per shown query, how many points the last draw showed
  function draw() {
    context.clearRect(0, 0, IMAGE_W * scale, IMAGE_H * scale);
    if (picture.complete && picture.naturalWidth) context.drawImage(picture, 0, 0, IMAGE_W * scale, IMAGE_H * scale);
    const shown = shownQueries(), top = largestShown();
    drawDetections(shown.filter(function (q) { return q.kind === "decoder"; }).map(function (q) { return q.n; }));
    const hovering = state.hovered !== null && pinIndex(state.hovered) < 0;
    drawnPoints = shown.map(function (q) {
      const index = pinIndex(q);
      return drawQuery(q, top, hovering && index >= 0, index < 0 ? "" : String(index + 1));
    });
    drawColourbar(top);
  }

  // ---------------------------------------------------------------- panel
  function describeQuery() {
    const box = document.getElementById("query-info");
    const q = state.hovered || (state.pinned.length ? state.pinned[state.pinned.length - 1].query : null);
    box.textContent = "";
    if (!q) {
      box.textContent = state.mode === "detections" ? "point at a detection" : "point at the image";
      return;
    }
    const d = queryData(q), layer = layerOf(q);
    const lines = [["layer", layer.label + (layer.label !== layer.name ? " (" + layer.name + ")" : "")],
                   ["query", String(q.query)]];
    if (q.kind === "decoder") {
      const det = DATA.detections[q.n];
      lines.push(["detection", det.label + " " + fmt(det.score, 3)]);
    } else {
      lines.push(["cell (row, col)", "(" + q.cell[0] + ", " + q.cell[1] + ") of level " + (q.level + 1)]);
    }
    lines.push(["reference (x, y)", "(" + fmt(d.reference[0], 1) + ", " + fmt(d.reference[1], 1) + ") px"]);
    const shares = [];  // each level's share of the attention (weights sum to 1 per head)
    for (let l = 0; l < d.L; l++) {
      let sum = 0;
      for (let h = 0; h < d.M; h++) for (let k = 0; k < d.K; k++) sum += d.weights[(h * d.L + l) * d.K + k];
      shares.push("L" + (l + 1) + " " + Math.round(100 * sum / d.M) + "%");
    }
    lines.push(["weight per level", shares.join(", ")]);
    let total = 0;
    for (let i = 0; i < d.M * d.L * d.K; i++) total += isPoint(d, i) ? 1 : 0;
    lines.push(["points shown", visiblePoints(d).length + " of " + total]);
    common.infoRows(box, lines);
  }

  // The --at pixel of a pinned encoder cell: its centre, rounded to 0.01 px and kept inside
  // the image, unless that would name another cell; then the pointer position that pinned it.
  function atPixel(pin) {
    const q = pin.query, centre = cellCentre(q.level, q.cell);
    let x = Math.min(Math.max(Number(centre[0].toFixed(2)), 0), IMAGE_W - 0.01);
    let y = Math.min(Math.max(Number(centre[1].toFixed(2)), 0), IMAGE_H - 0.01);
    const back = cellAt(q.level, x, y);
    if (back[0] !== q.cell[0] || back[1] !== q.cell[1]) { x = pin.pointer[0]; y = pin.pointer[1]; }
    return [fmt(x), fmt(y)];
  }

  function command() {
    if (!state.pinned.length) return "";
    const first = state.pinned[0].query;
    const words = ["deformviz", "sample", DATA.command.image].concat(DATA.command.arguments)
      .concat(["--layer", layerOf(first).label]);
    state.pinned.forEach(function (pin) {
      if (first.kind === "decoder") words.push("--query", String(pin.query.query));
      else words.push("--at", ...atPixel(pin));
    });
    if (first.kind === "encoder") words.push("--level", String(first.level + 1));
    if (state.minWeight > 0) words.push("--min-weight", String(state.minWeight));
    return words.map(common.shellQuote).join(" ");
  }

  function pinLabel(pin) {
    const q = pin.query;
    if (q.kind === "decoder") {
      const det = DATA.detections[q.n];
      return "query " + q.query + " (" + det.label + " " + fmt(det.score, 2) + ")";
    }
    const at = atPixel(pin);
    return "query " + q.query + ", level " + (q.level + 1) + " cell (" + q.cell[0] + ", " + q.cell[1] +
      ") at (" + at[0] + ", " + at[1] + ")";
  }

  function updatePanel() {
    const list = document.getElementById("pinned");
    list.textContent = "";
    state.pinned.forEach(function (pin, i) {
      const item = el("li", {}, pinLabel(pin));
      const remove = el("button", { type: "button", title: "unpin" }, "\u00d7");
      remove.addEventListener("click", function () { state.pinned.splice(i, 1); refresh(); });
      item.appendChild(remove);
      list.appendChild(item);
    });
    const text = command();
    document.getElementById("command").value = text || "(click queries on the image to pin them)";
    document.getElementById("copy").disabled = !text;
    const partial = state.heads.indexOf(false) >= 0 || state.levels.indexOf(false) >= 0;
    document.getElementById("command-note").textContent = text && partial ?
      "sample draws every head and level; add --split head or --split level for a panel each" : "";
    document.querySelectorAll("#modes button").forEach(function (b) {
      b.classList.toggle("on", b.dataset.mode === String(state.mode));
    });
    document.getElementById("min-weight-value").textContent = fmt(state.minWeight, 3);
    describeQuery();
  }

  function refresh() { updatePanel(); draw(); }

  function setMode(mode) {
    if (mode !== "detections" && ENCODER_LEVELS.indexOf(mode) < 0) return;
    if (mode === "detections" && !DECODER.length) return;
    state.mode = mode; state.hovered = null; refresh();
  }

  function toggles(containerId, count, name, key) {
    const container = document.getElementById(containerId);
    for (let i = 0; i < count; i++) {
      const label = el("label", { class: "toggle" });
      const box = el("input", { type: "checkbox", "data-index": String(i) });
      box.checked = true;
      box.addEventListener("change", function () { state[key][i] = box.checked; refresh(); });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + name(i)));
      container.appendChild(label);
    }
  }

  const MARKER_GLYPHS = { o: "\u25cf", s: "\u25a0", "^": "\u25b2", D: "\u25c6", v: "\u25bc", p: "\u2b1f" };
  function levelName(l) {
    return (MARKER_GLYPHS[marker(l)] || "") + " L" + (l + 1) + " (/" + fmt(LEVELS[l].sx, 1) + ")";
  }

  function buildPanel() {
    document.getElementById("title").textContent =
      DATA.image.name + " \u2014 " + DATA.model.name + " (" + IMAGE_W + "\u00d7" + IMAGE_H + " px)";
    const modes = document.getElementById("modes");
    const modeButton = function (mode, text, title) {
      const button = el("button", { type: "button", "data-mode": String(mode), title: title }, text);
      button.addEventListener("click", function () { setMode(mode); });
      modes.appendChild(button);
    };
    if (DECODER.length) modeButton("detections", "detections", "decoder queries of the detections");
    ENCODER_LEVELS.forEach(function (l) {
      modeButton(l, "encoder L" + (l + 1), "encoder queries of level " + (l + 1) + " (" +
        LEVELS[l].H + "\u00d7" + LEVELS[l].W + " cells, stride " + fmt(LEVELS[l].sx, 1) + ")");
    });
    const select = document.getElementById("decoder-layer");
    DECODER.forEach(function (layer, i) {
      const option = el("option", { value: String(i) }, layer.label);
      option.selected = i === state.decoderLayer;
      select.appendChild(option);
    });
    select.addEventListener("change", function () { state.decoderLayer = Number(select.value); refresh(); });
    if (!DECODER.length) document.getElementById("decoder-row").style.display = "none";
    const note = document.getElementById("encoder-note");
    if (ENCODER) {
      note.textContent = "encoder layer " + ENCODER.label + "; the page carries level" +
        (ENCODER_LEVELS.length > 1 ? "s " : " ") + ENCODER_LEVELS.map(function (l) { return l + 1; }).join(", ") +
        " of " + LEVELS.length + (ENCODER_LEVELS.length < LEVELS.length ? " (explore --encoder-levels for others)" : "");
    } else {
      note.textContent = "no deformable encoder layer";
    }
    if (!DECODER.length) note.textContent += "; no detections at score \u2265 " + fmt(DATA.score_threshold, 2);
    toggles("head-toggles", HEADS, function (h) { return "head " + (h + 1); }, "heads");
    toggles("level-toggles", LEVEL_COUNT, levelName, "levels");
    const slider = document.getElementById("min-weight");
    slider.addEventListener("input", function () { state.minWeight = Number(slider.value); refresh(); });
    const bind = function (id, key, parse) {
      const input = document.getElementById(id);
      input.addEventListener("input", function () { state[key] = parse(input); refresh(); });
    };
    bind("colour-weight", "colourByWeight", function (i) { return i.checked; });
    bind("size-weight", "sizeByWeight", function (i) { return i.checked; });
    bind("point-size", "pointSize", function (i) { return Number(i.value); });
    bind("show-detections", "detections", function (i) { return i.checked; });
    if (!DATA.detections.length) document.getElementById("detections-row").style.display = "none";
    const legend = document.getElementById("legend");
    const entry = function (glyph, colour, text) {
      const item = el("li");
      const swatch = el("span", { class: "glyph" }, glyph);
      swatch.style.color = colour;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(" " + text));
      legend.appendChild(item);
    };
    entry("+", COLOURS.reference, "reference point (encoder: the cell, outlined)");
    for (let l = 0; l < LEVEL_COUNT; l++) entry(MARKER_GLYPHS[marker(l)] || "?", "#555", "level " + (l + 1) + " sampling points");
    if (DATA.detections.length) entry("\u25a1", COLOURS.box, "detection (its decoder query)");
    document.getElementById("network").textContent = DATA.model.architecture + "; model input " +
      DATA.resized_size[1] + "\u00d7" + DATA.resized_size[0] + " px; " + HEADS + " heads, " +
      LEVEL_COUNT + " levels \u00d7 " + ANY.K + " points. Colour: " + COLOURS.colormap_name +
      ", 0 to the largest weight shown; weights as the attention used them (after its softmax).";
    document.getElementById("clear").addEventListener("click", function () { state.pinned = []; refresh(); });
    document.getElementById("copy").addEventListener("click", copyCommand);
  }

  function copyCommand() {
    const text = command();
    common.copyCommand(text, function () { state.lastCopied = text; });
  }

  // ---------------------------------------------------------------- input
  function pointerPixel(event) { return common.pointerPixel(canvas, event, scale); }
  function insideImage(p) { return common.insideImage(p, IMAGE_W, IMAGE_H); }

  function queryAt(p) {
    if (!insideImage(p)) return null;
    const x = Math.min(Math.max(p[0], 0), IMAGE_W - 0.01), y = Math.min(Math.max(p[1], 0), IMAGE_H - 0.01);
    return state.mode === "detections" ? detectionAt(x, y) : encoderQueryAt(state.mode, x, y);
  }

  canvas.addEventListener("pointermove", function (event) {
    const q = queryAt(pointerPixel(event));
    if ((q === null) !== (state.hovered === null) || (q && !sameQuery(q, state.hovered))) {
      state.hovered = q; refresh();
    }
  });
  canvas.addEventListener("pointerleave", function () { state.hovered = null; refresh(); });
  canvas.addEventListener("click", function (event) {
    const p = pointerPixel(event), q = queryAt(p);
    if (!q) return;
    const index = pinIndex(q);
    if (index >= 0) {
      state.pinned.splice(index, 1);
    } else {
      const first = state.pinned.length ? state.pinned[0].query : null;
      // One command draws queries of one layer (and, for --at, one level): start anew otherwise.
      if (first && (first.kind !== q.kind || first.level !== q.level)) state.pinned = [];
      const x = Math.min(Math.max(p[0], 0), IMAGE_W - 0.01), y = Math.min(Math.max(p[1], 0), IMAGE_H - 0.01);
      state.pinned.push({ query: q, pointer: [Number(x.toFixed(2)), Number(y.toFixed(2))] });
    }
    refresh();
  });
  document.addEventListener("keydown", function (event) {
    if (event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement ||
        event.target instanceof HTMLSelectElement) return;
    if (event.key === "d") setMode("detections");
    else if (/^[1-9]$/.test(event.key)) setMode(Number(event.key) - 1);
    else if (event.key === "c") { state.pinned = []; refresh(); }
  });
  window.addEventListener("resize", layout);

  // ---------------------------------------------------------------- for scripts and tests
  function plain(q) {  // a shown query with its points nested [head][level][point] of [x, y]
    const d = queryData(q), points = [], weights = [];
    for (let h = 0; h < d.M; h++) {
      points.push([]); weights.push([]);
      for (let l = 0; l < d.L; l++) {
        points[h].push([]); weights[h].push([]);
        for (let k = 0; k < d.K; k++) {
          const i = (h * d.L + l) * d.K + k;
          points[h][l].push([d.points[2 * i], d.points[2 * i + 1]]);
          weights[h][l].push(d.weights[i]);
        }
      }
    }
    return { kind: q.kind, layer: layerOf(q).name, query: q.query,
             level: q.kind === "encoder" ? q.level : null, cell: q.cell || null,
             reference: d.reference, points: points, weights: weights,
             visible: visiblePoints(d).length, pinned: pinIndex(q) >= 0 };
  }
  window.deformvizExplore = {
    data: DATA,
    view: function () { return common.viewOf(canvas, scale); },
    toClient: function (x, y) { return common.toClient(canvas, scale, x, y); },
    shown: function () { return shownQueries().map(plain); },
    drawn: function () { return drawnPoints.slice(); },
    setMode: setMode,
    setDecoderLayer: function (i) { state.decoderLayer = i; refresh(); },
    setMinWeight: function (w) { state.minWeight = w; document.getElementById("min-weight").value = w; refresh(); },
    command: command,
    lastCopied: function () { return state.lastCopied; },
    forgetCopied: function () { state.lastCopied = null; },
  };

  buildPanel();
  updatePanel();
  picture.addEventListener("load", function () { layout(); document.body.dataset.ready = "true"; });
  picture.src = DATA.image.uri;
  layout();
})();
