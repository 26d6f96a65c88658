// Carrel uploads: drag-and-drop files onto the upload form. Without this file the
// ordinary file picker still works; dropping only fills that same <input type="file">.
(function () {
  "use strict";

  function describe(files) {
    if (!files || files.length === 0) return "";
    const names = Array.prototype.map.call(files, function (file) { return file.name; });
    const shown = names.slice(0, 5).join(", ") + (names.length > 5 ? ", …" : "");
    return names.length + " file" + (names.length === 1 ? "" : "s") + " selected: " + shown;
  }

  function enhance(form) {
    const input = form.querySelector("input[type=file][data-upload-input]");
    const summary = form.querySelector("[data-upload-summary]");
    if (!input) return;

    function show() {
      if (summary) summary.textContent = describe(input.files);
    }

    input.addEventListener("change", show);

    form.addEventListener("dragover", function (event) {
      if (!event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      form.classList.add("is-dragover");
    });

    form.addEventListener("dragleave", function (event) {
      if (!form.contains(event.relatedTarget)) form.classList.remove("is-dragover");
    });

    form.addEventListener("drop", function (event) {
      form.classList.remove("is-dragover");
      if (!event.dataTransfer || event.dataTransfer.files.length === 0) return;
      event.preventDefault();
      input.files = event.dataTransfer.files;
      show();
      if (summary) summary.textContent += ". Press Upload to add them.";
      const button = form.querySelector("button[type=submit]");
      if (button) button.focus();
    });
  }

  function start() {
    document.querySelectorAll("form[data-upload-form]").forEach(enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
