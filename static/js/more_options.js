// The edit form's "More options": closed for newcomers, and remembered per person on the
// profile (a POST to data-remember), so that every device, and every redraw of the form's
// model part (a model change swaps it), opens it the way the person left it.
(function () {
  "use strict";

  let chosen = null; // what the person chose on this page, ahead of the server's answer

  function remember(url, shown) {
    const token = document.querySelector("#edit-form [name=csrfmiddlewaretoken]");
    fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": token ? token.value : "", "HX-Request": "true" },
      body: new URLSearchParams({ open: shown ? "1" : "0" }),
      credentials: "same-origin",
      keepalive: true,
    }).catch(() => {}); // only a preference: the form works the same without it
  }

  window.retouchEnhance("[data-more-options]", (details) => {
    // Redrawn before the server heard of the last choice: keep that choice, unless a field
    // inside has an error (the server then draws it open, and open it stays).
    if (chosen !== null && !details.querySelector(".field-errors, [aria-invalid=true]")) {
      details.open = chosen;
    }
    const summary = details.querySelector("summary");
    // A click (or Enter/Space) on the summary toggles it after this handler runs; only
    // the person's own toggles are remembered, not the ones the page makes.
    summary.addEventListener("click", () => {
      chosen = !details.open;
      remember(details.dataset.remember, chosen);
    });
  });
})();
