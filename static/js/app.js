// Small page behaviours that need the browser: copying ids to the clipboard, the
// before/after slider, and the gallery's poll. No inline scripts or styles anywhere:
// the Content-Security-Policy allows neither (nor eval, so no hx-trigger filters).
// Words people read come from the scripts' catalogue (gettext, loaded first by base.html).
(function () {
  "use strict";

  function announce(text) {
    const region = document.getElementById("announcer") || document.getElementById("messages");
    if (region) region.textContent = text;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      const label = button.firstChild;
      const old = label.textContent;
      label.textContent = gettext("Copied");
      announce(gettext("Copied to the clipboard."));
      setTimeout(() => { label.textContent = old; }, 1500);
    } catch (err) {
      // Clipboard access can be refused (insecure origin): select the text instead.
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      announce(gettext("Press Ctrl+C to copy the selected id."));
    }
  });

  // Before/after slider: the native range input under the picture is the keyboard
  // control (arrow keys, Home/End, Page Up/Down); a drag anywhere on the picture moves
  // the same input, so the two always agree.
  function showSplit(range) {
    const stage = range.closest("[data-compare-box]").querySelector("[data-compare]");
    const value = Number(range.value);
    stage.style.setProperty("--split", value + "%");
    range.setAttribute(
      "aria-valuetext",
      interpolate(
        gettext("%(original)s original, %(result)s result"),
        { original: value + "%", result: 100 - value + "%" },
        true
      )
    );
  }

  document.addEventListener("input", (event) => {
    const range = event.target.closest("[data-compare-range]");
    if (range) showSplit(range);
  });

  function dragTo(stage, clientX) {
    const range = stage.closest("[data-compare-box]").querySelector("[data-compare-range]");
    const box = stage.getBoundingClientRect();
    const value = Math.round(((clientX - box.left) / box.width) * 100);
    range.value = String(Math.min(100, Math.max(0, value)));
    showSplit(range);
  }

  document.addEventListener("pointerdown", (event) => {
    const stage = event.target.closest("[data-compare]");
    if (!stage || event.button !== 0) return;
    event.preventDefault();
    stage.setPointerCapture(event.pointerId);
    stage.dataset.dragging = "";
    dragTo(stage, event.clientX);
    // The keyboard carries on from where the pointer left the split.
    stage.closest("[data-compare-box]").querySelector("[data-compare-range]")
      .focus({ preventScroll: true });
  });

  document.addEventListener("pointermove", (event) => {
    const stage = event.target.closest("[data-compare]");
    if (stage && "dragging" in stage.dataset) dragTo(stage, event.clientX);
  });

  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
    document.addEventListener(type, (event) => {
      const stage = event.target.closest && event.target.closest("[data-compare]");
      if (stage) delete stage.dataset.dragging;
    });
  }

  // The compare stage takes the result's shape (a style attribute would be refused).
  htmx.onLoad((root) => {
    for (const stage of root.querySelectorAll("[data-compare][data-aspect]")) {
      const [width, height] = stage.dataset.aspect.split("/").map(Number);
      const box = stage.closest("[data-compare-box]") || stage;
      if (width > 0 && height > 0) box.style.setProperty("--ratio", String(width / height));
    }
  });

  // The gallery's single poll, only while some card is pending. The poller is looked up
  // each time: filtering or paging swaps the gallery, poller included. Each pending card's
  // hidden input goes with it (hx-include) as `<id>:<status>[.<previews shown>]`, so a card
  // comes back when its status changes or the service has streamed a new preview.
  setInterval(() => {
    const poller = document.getElementById("gallery-poller");
    if (poller && !poller.classList.contains("htmx-request") &&
        document.querySelector("[data-pending]")) {
      htmx.trigger(poller, "poll");
    }
  }, 2000);
})();
