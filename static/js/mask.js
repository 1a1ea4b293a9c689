// The mask painter: paint over the first chosen photo to mark the area that may
// change. Strokes are kept as vectors (so undo is cheap at any image size) and drawn
// on a canvas the size of the photo itself. The mask sent is a PNG of exactly that
// size: opaque everywhere except where painted, which is fully transparent, as the
// Images API expects. Works with mouse, touch and pen (pointer events), and without
// a pointer: focus the photo, move a rectangle with the arrow keys, size it with
// Shift+arrows and press Enter to mark it.
(function () {
  "use strict";

  // {erase, size (photo pixels), points: [[x, y], ...]} painted, or {erase, rect: [x, y, w, h]}
  // marked with the keyboard.
  let strokes = [];
  let photoKey = null; // which photo the strokes belong to

  function keyOf(file) {
    return file ? [file.name, file.size, file.lastModified].join("/") : null;
  }

  function setup(painter) {
    if (painter.dataset.maskReady) return;
    painter.dataset.maskReady = "1";
    const form = painter.closest("form");
    const canvas = painter.querySelector("[data-mask-canvas]");
    const image = painter.querySelector("[data-mask-image]");
    const sizeInput = painter.querySelector("[data-brush-size]");
    const maskInput = form.querySelector('input[type=file][name=mask]');
    const status = painter.querySelector("[data-mask-status]");
    const ctx = canvas.getContext("2d");
    let erasing = false;
    let current = null;
    let box = null; // the keyboard's rectangle, [x, y, w, h] in photo pixels, until Enter

    function scale() {
      // Photo pixels per CSS pixel, so the brush feels the same at any zoom.
      const rect = canvas.getBoundingClientRect();
      return rect.width ? canvas.width / rect.width : 1;
    }

    function drawStroke(stroke, c = ctx) {
      c.save();
      if (stroke.rect) {
        c.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
        c.fillStyle = "#e0245e";
        c.fillRect(...stroke.rect);
        c.restore();
        return;
      }
      drawPath(stroke, c);
      c.restore();
    }

    function drawPath(stroke, ctx) {
      ctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
      ctx.strokeStyle = "#e0245e";
      ctx.fillStyle = "#e0245e";
      ctx.lineWidth = stroke.size;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      const [first, ...rest] = stroke.points;
      ctx.beginPath();
      if (!rest.length) {
        ctx.arc(first[0], first[1], stroke.size / 2, 0, Math.PI * 2);
        ctx.fill();
      } else {
        ctx.moveTo(first[0], first[1]);
        rest.forEach(([x, y]) => ctx.lineTo(x, y));
        ctx.stroke();
      }
    }

    function redraw() {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      strokes.forEach((stroke) => drawStroke(stroke));
      if (box && document.activeElement === canvas) {
        // The rectangle still being placed: an outline on screen, never in the mask.
        ctx.save();
        ctx.lineWidth = Math.max(2, 3 * scale());
        ctx.setLineDash([8 * scale(), 6 * scale()]);
        ctx.strokeStyle = "#fff";
        ctx.strokeRect(...box);
        ctx.lineDashOffset = 7 * scale();
        ctx.strokeStyle = "#111";
        ctx.strokeRect(...box);
        ctx.restore();
      }
    }

    function exportMask() {
      const painted = strokes.some((s) => !s.erase);
      const transfer = new DataTransfer();
      if (!painted) {
        maskInput.files = transfer.files;
        status.textContent = gettext("No area painted: the whole photo may change.");
        return;
      }
      const out = document.createElement("canvas");
      out.width = canvas.width;
      out.height = canvas.height;
      const octx = out.getContext("2d");
      octx.fillStyle = "#000";
      octx.fillRect(0, 0, out.width, out.height);
      const layer = document.createElement("canvas"); // the strokes alone, no outline
      layer.width = out.width;
      layer.height = out.height;
      strokes.forEach((stroke) => drawStroke(stroke, layer.getContext("2d")));
      octx.globalCompositeOperation = "destination-out";
      octx.drawImage(layer, 0, 0);
      out.toBlob((blob) => {
        transfer.items.add(new File([blob], "mask.png", { type: "image/png" }));
        maskInput.files = transfer.files;
        status.textContent = gettext("Mask ready: only the painted area will change.");
      }, "image/png");
    }

    function point(event) {
      const rect = canvas.getBoundingClientRect();
      const s = scale();
      return [(event.clientX - rect.left) * s, (event.clientY - rect.top) * s];
    }

    canvas.addEventListener("pointerdown", (event) => {
      if (!canvas.width) return;
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      current = { erase: erasing, size: Number(sizeInput.value) * scale(), points: [point(event)] };
      strokes.push(current);
      drawStroke(current);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!current) return;
      current.points.push(point(event));
      redraw();
    });
    const finish = () => {
      if (!current) return;
      current = null;
      exportMask();
    };
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);

    // The keyboard's way: instructions for everyone (and screen readers, through
    // aria-describedby), the rectangle's place said in the status line as it moves.
    const help = document.createElement("p");
    help.className = "hint";
    help.id = "mask-keys-help";
    help.textContent = gettext(
      "With the keyboard: focus the photo (Tab), move the rectangle with the arrow keys, " +
      "make it wider or taller with Shift+arrows, and press Enter to mark it."
    );
    painter.querySelector(".mask-stage").before(help);
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "application");
    canvas.setAttribute("aria-describedby", help.id);

    function percent(value, whole) {
      return Math.round((value * 100) / whole) + "%";
    }

    function describeBox() {
      const [x, y, w, h] = box;
      status.textContent = interpolate(
        gettext(
          "Rectangle %(width)s wide and %(height)s tall, %(left)s from the left and " +
          "%(top)s from the top. Enter marks it."
        ),
        {
          width: percent(w, canvas.width),
          height: percent(h, canvas.height),
          left: percent(x, canvas.width),
          top: percent(y, canvas.height),
        },
        true
      );
    }

    canvas.addEventListener("focus", () => {
      if (!canvas.width) return;
      if (!box) {
        const w = Math.round(canvas.width / 3);
        const h = Math.round(canvas.height / 3);
        box = [Math.round((canvas.width - w) / 2), Math.round((canvas.height - h) / 2), w, h];
      }
      redraw();
      describeBox();
    });
    canvas.addEventListener("blur", redraw);
    canvas.addEventListener("keydown", (event) => {
      if (!box || event.ctrlKey || event.metaKey || event.altKey) return;
      const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        strokes.push({ erase: erasing, rect: box.slice() });
        redraw();
        exportMask();
        return;
      }
      const move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      const stepX = Math.max(1, Math.round(canvas.width / 20));
      const stepY = Math.max(1, Math.round(canvas.height / 20));
      let [x, y, w, h] = box;
      if (event.shiftKey) {
        w = Math.min(canvas.width - x, Math.max(stepX, w + move[0] * stepX));
        h = Math.min(canvas.height - y, Math.max(stepY, h + move[1] * stepY));
      } else {
        x = Math.min(canvas.width - w, Math.max(0, x + move[0] * stepX));
        y = Math.min(canvas.height - h, Math.max(0, y + move[1] * stepY));
      }
      box = [x, y, w, h];
      redraw();
      describeBox();
    });

    painter.querySelectorAll("[data-tool]").forEach((button) => {
      button.addEventListener("click", () => {
        erasing = button.dataset.tool === "eraser";
        painter.querySelectorAll("[data-tool]").forEach((b) =>
          b.setAttribute("aria-pressed", String(b === button))
        );
      });
    });
    painter.querySelector("[data-undo]").addEventListener("click", () => {
      strokes.pop();
      redraw();
      exportMask();
    });
    painter.querySelector("[data-clear]").addEventListener("click", () => {
      strokes = [];
      redraw();
      exportMask();
    });

    function showPhoto(file) {
      const key = keyOf(file);
      if (key !== photoKey) {
        strokes = [];
        box = null;
        photoKey = key;
      }
      painter.hidden = !file;
      if (!file) {
        canvas.width = canvas.height = 0;
        return;
      }
      const url = URL.createObjectURL(file);
      image.onload = () => {
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
        painter.querySelector(".mask-stage").style.aspectRatio =
          image.naturalWidth + " / " + image.naturalHeight;
        redraw();
        if (strokes.length) exportMask();
        URL.revokeObjectURL(url);
      };
      image.src = url;
    }

    // Choosing another model swaps the painter out (or away, for a model without a
    // mask); only the painter on the page follows the photos. The strokes are kept, so
    // switching back to a model with a mask keeps what was painted.
    form.addEventListener("retouch:photos", (event) => {
      if (painter.isConnected) showPhoto(event.detail.files[0]);
    });
    const photos = form.querySelector('input[type=file][name=images]');
    showPhoto(photos && photos.files.length ? photos.files[0] : null);
  }

  window.retouchEnhance("[data-mask-painter]", setup);
})();
