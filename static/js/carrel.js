// Carrel: small progressive enhancements. Every page works without this file.
//
// 1. Ctrl+Enter (Cmd+Enter on a Mac) in a textarea submits its form.
// 2. Elements with aria-keyshortcuts="j" (one plain key) are clicked when that key is
//    pressed and the person is not typing, e.g. flashcard review buttons.
// 3. When an htmx request fails, say so in #flash in words a person can act on.
// 4. A button with data-copy="<input id>" (hidden until now) copies that input's value.
(function () {
  "use strict";

  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  function submitForm(form) {
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit(); // fires "submit", so htmx-enhanced forms go through htmx
    } else {
      form.submit();
    }
  }

  function isShown(element) {
    return element.getClientRects().length > 0 && !element.closest("[hidden], [inert]");
  }

  function shortcutTarget(key) {
    const wanted = key.length === 1 ? key.toLowerCase() : key;
    const candidates = document.querySelectorAll("[aria-keyshortcuts]");
    for (const element of candidates) {
      const keys = element.getAttribute("aria-keyshortcuts").split(/\s+/);
      const matches = keys.some(function (k) {
        return (k.length === 1 ? k.toLowerCase() : k) === wanted;
      });
      if (matches && isShown(element) && !element.disabled) return element;
    }
    return null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    const target = event.target;

    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target instanceof HTMLTextAreaElement) {
      if (target.form) {
        event.preventDefault();
        submitForm(target.form);
      }
      return;
    }

    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(target)) return;
    const element = shortcutTarget(event.key);
    if (element) {
      event.preventDefault();
      element.click();
    }
  });

  // Failed htmx requests: a message in the page's live region, cleared by the next success.
  const FLASH_ID = "flash";
  const MESSAGE_CLASS = "message error";

  function showProblem(text) {
    const flash = document.getElementById(FLASH_ID);
    if (!flash) return;
    let list = flash.querySelector("ul.messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      flash.appendChild(list);
    }
    let item = list.querySelector("[data-htmx-problem]");
    if (!item) {
      item = document.createElement("li");
      item.className = MESSAGE_CLASS;
      item.setAttribute("data-htmx-problem", "");
      list.appendChild(item);
    }
    item.textContent = text;
  }

  function clearProblem() {
    const item = document.querySelector("#" + FLASH_ID + " [data-htmx-problem]");
    if (item) item.remove();
  }

  function describeFailure(status) {
    if (status === 403) {
      return "Carrel refused that request (403). Your session may have ended: reload the page and sign in again.";
    }
    if (status === 404) {
      return "That item no longer exists (404). Reload the page to see the current list.";
    }
    if (status === 413) {
      return "That upload is too large for this server (413). Try a smaller file.";
    }
    if (status >= 500) {
      return "Carrel hit an error (" + status + "). Try again; if it keeps happening, check the Status page and the server log.";
    }
    return "That request did not work (" + status + "). Reload the page and try again.";
  }

  document.addEventListener("htmx:responseError", function (event) {
    showProblem(describeFailure(event.detail.xhr.status));
  });
  document.addEventListener("htmx:sendError", function () {
    showProblem("Could not reach Carrel. Is the server still running? Check it, then try again.");
  });
  document.addEventListener("htmx:timeout", function () {
    showProblem("Carrel took too long to answer. Try again in a moment.");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) clearProblem();
  });

  function showCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  }
  document.addEventListener("DOMContentLoaded", showCopyButtons);
  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
    if (!button) return;
    const input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    const done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
})();
