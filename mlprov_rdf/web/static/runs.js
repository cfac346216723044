// The runs page works without this script; it adds "all / none" to each group of the column
// chooser and keeps the Compare button disabled until two runs are checked.
(function () {
  "use strict";
  document.querySelectorAll(".runs-column-group").forEach(function (group) {
    var legend = group.querySelector("legend");
    [["all", true], ["none", false]].forEach(function (pair) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "runs-group-toggle";
      button.textContent = pair[0];
      button.addEventListener("click", function () {
        group.querySelectorAll("input[type=checkbox]").forEach(function (box) { box.checked = pair[1]; });
      });
      legend.appendChild(button);
    });
  });
  var form = document.querySelector(".runs-compare-form");
  if (!form) { return; }
  var compare = form.querySelector(".runs-compare");
  function update() {
    compare.disabled = form.querySelectorAll("input[name=run]:checked").length < 2;
  }
  form.addEventListener("change", update);
  update();
})();
