// The size picker of the grid models. app.css shows the width and height only while
// "Custom size…" is chosen, and the server checks each change (hx-get on the field),
// so this file only helps: choosing "Custom size…" starts from the preset chosen
// before it, so a person adjusts a size instead of typing one from nothing.
(function () {
  "use strict";

  const SIZE = /^(\d+)x(\d+)$/;

  function setup(field) {
    if (field.dataset.sizesReady) return;
    field.dataset.sizesReady = "1";
    const select = field.querySelector("select[name=size]");
    const width = field.querySelector("input[name=size_width]");
    const height = field.querySelector("input[name=size_height]");
    if (!select || !width || !height) return;
    let last = SIZE.exec(select.value);
    select.addEventListener("change", () => {
      const preset = SIZE.exec(select.value);
      if (preset) {
        last = preset;
      } else if (select.value === "custom" && !width.value && !height.value && last) {
        width.value = last[1];
        height.value = last[2];
      }
    });
  }

  window.retouchEnhance("[data-size-field]", setup);
})();
