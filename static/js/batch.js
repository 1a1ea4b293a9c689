// "Together or each": the edit form asks only once two or more photos are chosen (the
// earlier result an edit starts from counts as one). Without this file the choice is
// always shown and "Combine them into one picture" is the default, as the server's.
(function () {
  "use strict";

  function update(form, count) {
    const choice = form.querySelector("[data-apply-to]");
    if (!choice) return;
    const base = form.querySelector("input[name=parent]");
    const photos = count + (base && base.value ? 1 : 0);
    choice.hidden = photos < 2;
  }

  // The photo picker (upload.js) tells its form, without bubbling: listen while capturing.
  document.addEventListener("retouch:photos", (event) => {
    const form = event.target.closest ? event.target.closest("[data-upload-form]") : null;
    if (form) update(form, event.detail.files.length);
  }, true);

  window.retouchEnhance("[data-upload-form]", (form) => {
    const input = form.querySelector("input[type=file][name=images]");
    update(form, input && input.files ? input.files.length : 0);
  });
})();
