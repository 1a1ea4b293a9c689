// Pushed page updates. A page's element with hx-ext="sse" sse-connect="…" holds an event
// stream (htmx's SSE extension, editor/edits/stream.py); each "change" event triggers
// the page's usual update request (hx-trigger="… sse:change"). While a stream is open
// the polls marked data-poll-fallback are skipped; when it closes or fails (a server
// without ASGI, too many open pages, a network drop) they run again, so the page never
// stops updating. Nothing here runs without a stream.
(function () {
  "use strict";

  const root = document.documentElement;
  const open = new Set(); // the elements whose stream is open now

  function update() {
    if (open.size) root.dataset.live = "";
    else delete root.dataset.live;
  }

  document.addEventListener("htmx:sseOpen", (event) => {
    open.add(event.target);
    update();
  });
  for (const type of ["htmx:sseError", "htmx:sseClose"]) {
    document.addEventListener(type, (event) => {
      open.delete(event.target);
      update();
    });
  }

  // A poll's request while the stream is open: skipped (events trigger it instead).
  // An event's request with nothing on this page to update (no pending card for the
  // poll to name): skipped too, as the poll itself would be.
  document.addEventListener("htmx:confirm", (event) => {
    const elt = event.detail.elt;
    if (!elt.closest("[data-poll-fallback]")) return;
    const cause = event.detail.triggeringEvent;
    const pushed = cause && typeof cause.type === "string" && cause.type.startsWith("sse:");
    if (pushed) {
      const include = elt.getAttribute("hx-include");
      if (include && !document.querySelector(include)) event.preventDefault();
      return;
    }
    if (open.size) event.preventDefault();
  });
})();
