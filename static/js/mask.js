// The mask painter: paint over the first chosen photo to mark the area that may
// change. Strokes are kept as vectors (so undo is cheap at any image size) and drawn
// on a canvas the size of the photo itself. The mask sent is a PNG of exactly that
// size: opaque everywhere except where painted, which is fully transparent, as the
// Images API expects. Works with mouse, touch and pen (pointer events).
(function () {
  "use strict";

  let strokes = []; // {erase: bool, size: number (photo pixels), points: [[x, y], ...]}
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

    function scale() {
      // Photo pixels per CSS pixel, so the brush feels the same at any zoom.
      const rect = canvas.getBoundingClientRect();
      return rect.width ? canvas.width / rect.width : 1;
    }

    function drawStroke(stroke) {
      ctx.save();
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
      ctx.restore();
    }

    function redraw() {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      strokes.forEach(drawStroke);
    }

    function exportMask() {
      const painted = strokes.some((s) => !s.erase);
      const transfer = new DataTransfer();
      if (!painted) {
        maskInput.files = transfer.files;
        status.textContent = "No area painted: the whole photo may change.";
        return;
      }
      const out = document.createElement("canvas");
      out.width = canvas.width;
      out.height = canvas.height;
      const octx = out.getContext("2d");
      octx.fillStyle = "#000";
      octx.fillRect(0, 0, out.width, out.height);
      octx.globalCompositeOperation = "destination-out";
      octx.drawImage(canvas, 0, 0);
      out.toBlob((blob) => {
        transfer.items.add(new File([blob], "mask.png", { type: "image/png" }));
        maskInput.files = transfer.files;
        status.textContent = "Mask ready: only the painted area will change.";
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
