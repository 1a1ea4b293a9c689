// The gallery's own behaviours: pending cards count their time, the new card comes into
// view after Start edit (on a phone it lands below the fold), and the "Filter" control
// folds on phones. The poll itself is in app.js.
(function () {
  "use strict";

  const PHONE = window.matchMedia("(max-width: 600px)");
  const CALM = window.matchMedia("(prefers-reduced-motion: reduce)");

  // The same words as the server's `duration` filter (edits_tags.py), with the same
  // messages: "1 min 10 s".
  function duration(seconds) {
    const total = Math.max(0, Math.floor(seconds));
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const secs = total % 60;
    const values = { hours: hours, minutes: minutes, seconds: secs };
    let format = gettext("%(seconds)s s");
    if (hours) format = gettext("%(hours)s h %(minutes)s min");
    else if (minutes && secs) format = gettext("%(minutes)s min %(seconds)s s");
    else if (minutes) format = gettext("%(minutes)s min");
    return interpolate(format, values, true);
  }

  // Each [data-elapsed] counts on from data-started (epoch seconds). data-now is the
  // server's clock when the card was drawn: a browser whose clock is off still counts
  // from the right moment.
  window.retouchEnhance("[data-elapsed]", (el) => {
    el.dataset.skew = String(Date.now() / 1000 - Number(el.dataset.now));
  });
  setInterval(() => {
    const now = Date.now() / 1000;
    for (const el of document.querySelectorAll("[data-elapsed]")) {
      const started = Number(el.dataset.started) + Number(el.dataset.skew || 0);
      el.textContent = duration(now - started);
    }
  }, 1000);

  // After Start edit, the new card (prepended to the gallery) is brought into view when
  // it is not already; the answer itself announces it (#announcer).
  document.addEventListener("htmx:afterSettle", (event) => {
    const target = event.detail.target;
    const config = event.detail.requestConfig;
    if (!target || target.id !== "gallery-items" || !config || config.verb !== "post") return;
    const card = target.firstElementChild;
    if (!card) return;
    const box = card.getBoundingClientRect();
    if (box.top >= 0 && box.bottom <= window.innerHeight) return;
    card.scrollIntoView({ block: "center", behavior: CALM.matches ? "auto" : "smooth" });
  });

  // "Filter": drawn open when there are edits; folded on phones. The person's own choice
  // holds across the gallery's swaps (filtering and paging redraw it).
  let foldOpen = null;
  window.retouchEnhance("[data-filter-fold]", (details) => {
    if (foldOpen !== null) details.open = foldOpen;
    else if (PHONE.matches) details.open = false;
    details.querySelector("summary").addEventListener("click", () => {
      foldOpen = !details.open;
    });
  });
})();
