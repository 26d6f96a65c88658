// Stories: clear the action box once a turn has been sent. Pages work without this file
// (without JavaScript a turn runs on submit and the page reloads).
(function () {
  "use strict";

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail && event.detail.elt;
    if (form instanceof HTMLFormElement && form.id === "turn-form" && event.detail.successful) {
      form.reset();
      const empty = document.getElementById("story-empty");
      if (empty) empty.remove();
    }
  });
})();
