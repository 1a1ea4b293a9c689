// Shared by the edit form's modules (upload.js, mask.js, sizes.js, batch.js), loaded
// before them: each sets up the elements it enhances on the page and again in whatever
// htmx swaps in later (an answer with the form again), and never needs to know how.
(function () {
  "use strict";

  // Calls `setup(element)` for each element matching `selector` in the page, and in
  // every piece of content htmx loads (the element itself may be that piece).
  // Without htmx: once, when the page has loaded.
  window.retouchEnhance = function (selector, setup) {
    function scan(root) {
      if (!root || !root.querySelectorAll) return;
      if (root.matches && root.matches(selector)) setup(root);
      root.querySelectorAll(selector).forEach(setup);
    }

    if (window.htmx) {
      window.htmx.onLoad(scan);
    } else {
      document.addEventListener("DOMContentLoaded", () => scan(document));
    }
  };
})();
