// The photo picker of the edit form: several files from the file dialog, drag and
// drop or the clipboard, with previews and remove buttons. The chosen files are kept
// here and written back into the form's <input type=file>, so htmx (or a plain submit
// with JavaScript off, which still works without this file) sends exactly them.
// Files that are not images are refused here, before any upload, in the server's own
// words (editor/edits/imaging.py). Also the form's keyboard: Ctrl/Cmd+Enter in the
// prompt sends it, and after a refused submit the focus goes to the first error.
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
      remove.setAttribute(
        "aria-label",
        interpolate(gettext("Remove %(name)s"), { name: file.name }, true)
      );
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
        ? interpolate(
            ngettext(
              "%(count)s photo chosen. Drop, paste or choose more.",
              "%(count)s photos chosen. Drop, paste or choose more.",
              chosen.length
            ),
            { count: chosen.length },
            true
          )
        : hint.dataset.blank;
    }
  }

  function notAnImage(file) {
    // Only what the browser knows is no image; any image goes on to the server, which
    // names the formats it cannot use (HEIC, GIF…) itself.
    return Boolean(file.type) && !file.type.startsWith("image/");
  }

  function showRefused(form, names) {
    const zone = form.querySelector("[data-dropzone]");
    let box = form.querySelector("[data-refused-files]");
    if (!names.length) {
      if (box) box.remove();
      return;
    }
    if (!box) {
      box = document.createElement("div");
      box.className = "field-errors";
      box.id = "images-refused";
      box.dataset.refusedFiles = "";
      box.setAttribute("role", "alert");
      zone.append(box);
    }
    box.replaceChildren(
      ...names.map((name) => {
        const line = document.createElement("p");
        line.textContent = interpolate(
          gettext("“%(name)s” is not an image Retouch can read. Use PNG, JPEG or WebP."),
          { name: name },
          true
        );
        return line;
      })
    );
  }

  function add(form, files) {
    // Files that are not images stop here; the server names anything else it refuses.
    const refused = files.filter(notAnImage);
    showRefused(form, refused.map((file) => file.name));
    for (const file of files.filter((f) => !notAnImage(f))) {
      const duplicate = chosen.some(
        (f) => f.name === file.name && f.size === file.size && f.lastModified === file.lastModified
      );
      if (!duplicate) chosen.push(file);
    }
    render(form);
  }

  // After a refused submit (the htmx answer or the whole page): the first field the
  // server marked, or the form's own message. role="alert" on them says it aloud.
  function focusFirstError(form) {
    let target = form.querySelector('[aria-invalid="true"]');
    if (!target) {
      target = form.querySelector(".form-errors, .field-errors");
      if (target) target.tabIndex = -1;
    }
    if (target) target.focus();
  }

  function init(form) {
    if (form.dataset.uploadReady) return;
    form.dataset.uploadReady = "1";
    const input = form.querySelector('input[type=file][name=images]');
    const zone = form.querySelector("[data-dropzone]");
    if (!form.hasAttribute("data-has-errors")) chosen = [];
    else focusFirstError(form);
    const prompt = form.querySelector("textarea[name=prompt]");
    if (prompt) {
      prompt.setAttribute("aria-keyshortcuts", "Control+Enter Meta+Enter");
      prompt.addEventListener("keydown", (event) => {
        if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
        event.preventDefault();
        form.requestSubmit();
      });
    }
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
