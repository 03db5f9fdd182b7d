// deformviz explore: helpers both pages use (the convolution page, explore.js, and the
// deformable-attention page, explore_attention.js); inlined before the page's own script.
"use strict";
const deformvizCommon = (function () {
  // {"shape": [...], "float32": base64 little-endian} -> Float32Array (C order).
  function decodeFloat32(encoded) {
    const text = atob(encoded.float32);
    const view = new DataView(new ArrayBuffer(text.length));
    for (let i = 0; i < text.length; i++) view.setUint8(i, text.charCodeAt(i));
    const values = new Float32Array(text.length / 4);
    for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);
    return values;
  }

  function roundHalfEven(v) {  // torch.round and Python's round
    return Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v);
  }

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (k) { node.setAttribute(k, attributes[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmt(v, digits) { return Number(v.toFixed(digits === undefined ? 2 : digits)).toString(); }

  function shellQuote(word) {
    return /^[A-Za-z0-9_\/.,:=+@%-]+$/.test(word) ? word : "'" + word.replace(/'/g, "'\\''") + "'";
  }

  // Copy `text` to the clipboard (or select it in `area` for Ctrl-C where the clipboard API
  // is refused, as on file: pages of some browsers); then call done().
  function copyText(text, area, done) {
    const fallback = function () {
      area.focus(); area.select();
      try { document.execCommand("copy"); } catch (error) { /* selected for Ctrl-C */ }
      done();
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  }

  // Size `canvas` to show a width x height image as large as the stage allows (at most 4x);
  // returns the scale (CSS pixels per image pixel). The context draws in CSS pixels.
  function fitCanvas(canvas, context, stage, width, height) {
    const top = stage.getBoundingClientRect().top + window.scrollY;
    const availableW = Math.max(200, stage.clientWidth);
    const availableH = Math.max(200, window.innerHeight - top - 16);
    const scale = Math.min(availableW / width, availableH / height, 4);
    const ratio = window.devicePixelRatio || 1;
    canvas.style.width = width * scale + "px";
    canvas.style.height = height * scale + "px";
    canvas.width = Math.round(width * scale * ratio);
    canvas.height = Math.round(height * scale * ratio);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    return scale;
  }

  // The page's "copy command" button: copy `text` (the #command box's), flash "copied" in
  // #copied, then call done().
  function copyCommand(text, done) {
    if (!text) return;
    copyText(text, document.getElementById("command"), function () {
      done();
      document.getElementById("copied").textContent = "copied";
      setTimeout(function () { document.getElementById("copied").textContent = ""; }, 1500);
    });
  }

  // Original-pixel index coordinates [x, y] under a pointer event on a canvas drawn at `scale`
  // CSS pixels per image pixel (pixel i spans [i, i + 1) * scale).
  function pointerPixel(canvas, event, scale) {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) / scale - 0.5, (event.clientY - rect.top) / scale - 0.5];
  }

  function insideImage(p, width, height) {
    return p[0] > -0.5 && p[0] < width - 0.5 && p[1] > -0.5 && p[1] < height - 0.5;
  }

  // For scripts and tests: where the image lies in the viewport ({left, top} CSS pixels and
  // CSS pixels per image pixel), and the viewport coordinates of original pixel (x, y).
  function viewOf(canvas, scale) {
    const rect = canvas.getBoundingClientRect();
    return { left: rect.left, top: rect.top, scale: scale };
  }
  function toClient(canvas, scale, x, y) {
    const rect = canvas.getBoundingClientRect();
    return [rect.left + (x + 0.5) * scale, rect.top + (y + 0.5) * scale];
  }

  // Rows "<b>name:</b> value" into `box` from [[name, value], ...].
  function infoRows(box, lines) {
    lines.forEach(function (line) {
      const row = el("div");
      row.appendChild(el("b", {}, line[0] + ": "));
      row.appendChild(document.createTextNode(line[1]));
      box.appendChild(row);
    });
  }

  // A detection's label ("cat 0.91") on a filled tab above its box's top-left corner (x, y
  // canvas pixels; inside the box at the image's top).
  function drawLabel(context, text, x, y, colour) {
    context.save();
    context.font = "12px system-ui, sans-serif";
    const width = context.measureText(text).width + 6, top = Math.max(0, y - 16);
    context.fillStyle = colour; context.fillRect(x, top, width, 16);
    context.fillStyle = "#000"; context.fillText(text, x + 3, top + 12);
    context.restore();
  }

  return { decodeFloat32: decodeFloat32, roundHalfEven: roundHalfEven, el: el, fmt: fmt,
           shellQuote: shellQuote, copyText: copyText, fitCanvas: fitCanvas,
           copyCommand: copyCommand, pointerPixel: pointerPixel, insideImage: insideImage,
           viewOf: viewOf, toClient: toClient, infoRows: infoRows, drawLabel: drawLabel };
})();
