// The SPARQL console: Ctrl+Enter (or Cmd+Enter) runs the query; an example link fills the
// text area instead of running (without this script the link runs it). No markup is built.
(function () {
  "use strict";
  const form = document.getElementById("console-form");
  const text = document.getElementById("console-text");
  if (!form || !text) return;
  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  document.querySelectorAll("#examples a[data-query]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      text.value = link.dataset.query;
      text.focus();
    });
  });
})();
