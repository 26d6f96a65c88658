// Flashcard review: Space (or the "Show answer" link) reveals the answer in place instead
// of reloading the page; the grade buttons carry aria-keyshortcuts="1".."4", which
// carrel.js turns into key presses. Each grade also sends how long the card was shown.
// Without this file the link loads the page with the answer shown, and buttons submit.
(function () {
  "use strict";

  let shownAt = performance.now();

  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  function reveal() {
    const review = document.querySelector("[data-review]");
    const answer = review && review.querySelector("[data-answer][hidden]");
    if (!answer) return false;
    answer.hidden = false;
    const link = review.querySelector("[data-show-answer]");
    if (link) link.closest("p").hidden = true;
    const good = answer.querySelector("[data-grade='3']");
    if (good) good.focus();
    return true;
  }

  document.addEventListener("click", function (event) {
    const link = event.target instanceof Element && event.target.closest("[data-show-answer]");
    if (link && reveal()) event.preventDefault();
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (event.key === " " && reveal()) event.preventDefault();
  });

  document.addEventListener(
    "submit",
    function (event) {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-grade-form")) return;
      const field = form.querySelector("[data-duration]");
      if (field) field.value = String(Math.round(performance.now() - shownAt));
    },
    true
  );

  // After a grade, the next card replaced #review: restart its clock and move focus to it.
  document.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail && event.detail.target;
    if (!(target instanceof Element) || target.id !== "review") return;
    shownAt = performance.now();
    const review = document.getElementById("review");
    if (review) review.focus();
  });
})();
