// Small page behaviours that need the browser: copying ids to the clipboard, the
// before/after slider, and the gallery's poll. No inline scripts or styles anywhere:
// the Content-Security-Policy allows neither (nor eval, so no hx-trigger filters).
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
      label.textContent = "Copied";
      announce("Copied to the clipboard.");
      setTimeout(() => { label.textContent = old; }, 1500);
    } catch (err) {
      // Clipboard access can be refused (insecure origin): select the text instead.
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      announce("Press Ctrl+C to copy the selected id.");
    }
  });

  // Before/after slider: a native range input, so it is keyboard operable as is.
  document.addEventListener("input", (event) => {
    const range = event.target.closest("[data-compare-range]");
    if (!range) return;
    const stage = range.closest(".compare").querySelector("[data-compare]");
    const value = Number(range.value);
    stage.style.setProperty("--split", value + "%");
    range.setAttribute(
      "aria-valuetext",
      value + "% original, " + (100 - value) + "% result"
    );
  });

  // The compare stage takes the result's shape (a style attribute would be refused).
  htmx.onLoad((root) => {
    for (const stage of root.querySelectorAll("[data-compare][data-aspect]")) {
      stage.style.aspectRatio = stage.dataset.aspect;
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
