// The photo picker of the edit form: several files from the file dialog, drag and
// drop or the clipboard, with previews and remove buttons. The chosen files are kept
// here and written back into the form's <input type=file>, so htmx (or a plain submit
// with JavaScript off, which still works without this file) sends exactly them.
// Files that are not images are refused here, before any upload, in the server's own
// words (editor/edits/imaging.py), and so are photos smaller than the chosen model's
// minimum (the model picker's option carries it as data-min-side, with the model's name
// as data-label; the server's check is EditForm.clean_images). Also the form's
// keyboard: Ctrl/Cmd+Enter in the prompt sends it, and after a refused submit the focus
// goes to the first error.
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

  function notAnImageMessage(file) {
    return interpolate(
      gettext("“%(name)s” is not an image Retouch can read. Use PNG, JPEG or WebP."),
      { name: file.name },
      true
    );
  }

  // The chosen model's minimum, or null where the page does not say it (the server
  // still checks).
  function chosenModel(form) {
    const select = form.querySelector("select[name=model]");
    const option = select && select.selectedOptions[0];
    const minSide = option ? Number(option.dataset.minSide) : NaN;
    if (!(minSide > 0)) return null;
    return { minSide: minSide, label: option.dataset.label || option.textContent.trim() };
  }

  // A photo's width and height, or null for what the browser cannot read (the server
  // names that itself). Loaded, not drawn: its size is enough. (A JPEG turned by its
  // EXIF reads here turned, so its two sides may be named the other way round from the
  // server; the shortest side is the same.)
  const sizes = new WeakMap();
  function measure(file) {
    if (sizes.has(file)) return Promise.resolve(sizes.get(file));
    return new Promise((resolve) => {
      const img = new Image();
      const url = URL.createObjectURL(file);
      const done = (size) => {
        URL.revokeObjectURL(url);
        sizes.set(file, size);
        resolve(size);
      };
      img.addEventListener("load", () => done({ width: img.naturalWidth, height: img.naturalHeight }));
      img.addEventListener("error", () => done(null));
      img.src = url;
    });
  }

  // The server's words for a photo too small for the model (EditForm.clean_images),
  // or null when it is large enough or the minimum is not known.
  async function tooSmallMessage(form, file) {
    const model = chosenModel(form);
    // Other formats are the server's to name first (imaging.read_header).
    if (!model || !ACCEPTED.includes(file.type)) return null;
    const size = await measure(file);
    if (!size || Math.min(size.width, size.height) >= model.minSide) return null;
    return interpolate(
      gettext(
        "“%(name)s” is %(size)s pixels; %(model)s needs photos at least %(side)s pixels on each side: choose a larger photo."
      ),
      { name: file.name, size: size.width + "×" + size.height, model: model.label, side: model.minSide },
      true
    );
  }

  function showRefused(form, messages) {
    const zone = form.querySelector("[data-dropzone]");
    let box = form.querySelector("[data-refused-files]");
    if (!messages.length) {
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
      ...messages.map((message) => {
        const line = document.createElement("p");
        line.textContent = message;
        return line;
      })
    );
  }

  async function add(form, files) {
    // Files that are not images, and photos too small for the model, stop here; the
    // server names anything else it refuses.
    const messages = files.filter(notAnImage).map(notAnImageMessage);
    const images = files.filter((f) => !notAnImage(f));
    const small = await Promise.all(images.map((file) => tooSmallMessage(form, file)));
    images.forEach((file, index) => {
      if (small[index]) {
        messages.push(small[index]);
        return;
      }
      const duplicate = chosen.some(
        (f) => f.name === file.name && f.size === file.size && f.lastModified === file.lastModified
      );
      if (!duplicate) chosen.push(file);
    });
    showRefused(form, messages);
    render(form);
  }

  // Another model may need larger photos: the chosen ones too small for it leave, with
  // the reason.
  async function recheck(form) {
    const small = await Promise.all(chosen.map((file) => tooSmallMessage(form, file)));
    const messages = small.filter(Boolean);
    if (!messages.length) return;
    chosen = chosen.filter((file, index) => !small[index]);
    showRefused(form, messages);
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
    const model = form.querySelector("select[name=model]");
    if (model) model.addEventListener("change", () => recheck(form));
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
