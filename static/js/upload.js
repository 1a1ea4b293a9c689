// The photo picker of the edit form: several files from the file dialog, drag and
// drop or the clipboard, with previews and remove buttons. The chosen files are kept
// here and written back into the form's <input type=file>, so htmx (or a plain submit
// with JavaScript off, which still works without this file) sends exactly them.
(function () {
  "use strict";

  const ACCEPTED = ["image/png", "image/jpeg", "image/webp"];
  let chosen = []; // File objects, survive a re-rendered form after a validation error

  function sync(input) {
    const transfer = new DataTransfer();
    chosen.forEach((file) => transfer.items.add(file));
    input.files = transfer.files;
  }

  function render(form) {
    const input = form.querySelector('input[type=file][name=images]');
    const list = form.querySelector("[data-previews]");
    if (!input || !list) return;
    sync(input);
    list.replaceChildren();
    chosen.forEach((file, index) => {
      const item = document.createElement("li");
      item.className = "preview";
      const img = document.createElement("img");
      img.alt = "";
      img.src = URL.createObjectURL(file);
      img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
      const name = document.createElement("span");
      name.className = "preview-name";
      name.textContent = file.name;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "preview-remove";
      remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove " + file.name);
      remove.addEventListener("click", () => {
        chosen.splice(index, 1);
        render(form);
        input.focus();
      });
      item.append(img, name, remove);
      list.append(item);
    });
    // The mask painter follows the first photo.
    form.dispatchEvent(new CustomEvent("retouch:photos", { detail: { files: chosen.slice() } }));
    const hint = form.querySelector("#images-hint");
    if (hint) {
      // The server's own words (photos are optional) come back once none is chosen.
      if (hint.dataset.blank === undefined) hint.dataset.blank = hint.textContent;
      hint.textContent = chosen.length
        ? chosen.length + " photo" + (chosen.length === 1 ? "" : "s") + " chosen. Drop, paste or choose more."
        : hint.dataset.blank;
    }
  }

  function add(form, files) {
    // Everything goes through; the server names any file it refuses, in plain words.
    for (const file of files) {
      const duplicate = chosen.some(
        (f) => f.name === file.name && f.size === file.size && f.lastModified === file.lastModified
      );
      if (!duplicate) chosen.push(file);
    }
    render(form);
  }

  function init(form) {
    if (form.dataset.uploadReady) return;
    form.dataset.uploadReady = "1";
    const input = form.querySelector('input[type=file][name=images]');
    const zone = form.querySelector("[data-dropzone]");
    if (!form.hasAttribute("data-has-errors")) chosen = [];
    input.addEventListener("change", () => {
      const files = Array.from(input.files);
      add(form, files);
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("is-dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("is-dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("is-dragging");
      add(form, Array.from(event.dataTransfer.files));
    });
    render(form);
  }

  document.addEventListener("paste", (event) => {
    const form = document.querySelector("[data-upload-form]");
    if (!form || !event.clipboardData) return;
    const files = Array.from(event.clipboardData.files).filter((f) => ACCEPTED.includes(f.type));
    if (!files.length) return;
    event.preventDefault();
    add(form, files);
  });

  window.retouchEnhance("[data-upload-form]", init);
})();
