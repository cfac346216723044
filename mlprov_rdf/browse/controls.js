(function () {
  if (typeof network === "undefined") { return; }
  var MIN_SCALE = 0.6;  // below this labels are unreadable: Fit stops here
  function setGroup(hub, show) {
    var members = nodes.get({filter: function (n) { return n.mlprovGroup === hub; }});
    if (show === undefined) { show = members.length > 0 && members[0].hidden === true; }
    nodes.update(members.map(function (n) { return {id: n.id, hidden: !show}; }));
    var links = edges.get({filter: function (e) { return e.mlprovGroup === hub; }});
    edges.update(links.map(function (e) { return {id: e.id, hidden: !show}; }));
    return show;
  }
  var hubs = nodes.getIds({filter: function (n) { return n.mlprovHub === true; }});
  var envHubs = nodes.getIds({filter: function (n) { return n.mlprovHub === true && n.mlprovKind === "environment"; }});
  var expanded = false;
  network.on("click", function (params) {
    if (params.nodes.length === 1 && hubs.indexOf(params.nodes[0]) >= 0) { setGroup(params.nodes[0]); }
  });
  // Fit shows the summary (pipeline, data, model, results) at a readable zoom, from its left end
  function fitSummary() {
    var ids = nodes.getIds({filter: function (n) { return n.mlprovSummary === true && !n.hidden; }});
    network.fit({nodes: ids});
    if (network.getScale() >= MIN_SCALE || !ids.length) { return; }
    var left = Infinity, top = Infinity, bottom = -Infinity;
    ids.forEach(function (id) {
      var b = network.getBoundingBox(id);
      left = Math.min(left, b.left); top = Math.min(top, b.top); bottom = Math.max(bottom, b.bottom);
    });
    var width = document.getElementById("mynetwork").clientWidth;
    network.moveTo({scale: MIN_SCALE, position: {x: left - 20 + width / (2 * MIN_SCALE), y: (top + bottom) / 2}});
    var hint = document.getElementById("mp-found");
    if (hint) { hint.textContent = "showing the start: drag to pan"; }
  }
  var groupsButton = document.getElementById("mp-groups");
  if (groupsButton) {
    if (envHubs.length === 0) { groupsButton.style.display = "none"; }
    groupsButton.addEventListener("click", function () {
      expanded = !expanded;
      envHubs.forEach(function (h) { setGroup(h, expanded); });
      groupsButton.textContent = expanded ? "Hide environment" : "Show environment";
    });
  }
  document.getElementById("mp-fit").addEventListener("click", fitSummary);
  var search = document.getElementById("mp-search");
  var found = document.getElementById("mp-found");
  function runSearch() {
    var q = search.value.trim().toLowerCase();
    if (!q) { network.unselectAll(); found.textContent = ""; return; }
    var hits = nodes.get({filter: function (n) {
      return String(n.label || "").toLowerCase().indexOf(q) >= 0 || String(n.id).toLowerCase().indexOf(q) >= 0;
    }});
    hits.forEach(function (n) { if (n.hidden && n.mlprovGroup) { setGroup(n.mlprovGroup, true); } });
    var ids = hits.map(function (n) { return n.id; });
    network.selectNodes(ids);
    if (ids.length) { network.fit({nodes: ids, animation: true}); }
    found.textContent = ids.length + (ids.length === 1 ? " match" : " matches");
  }
  search.addEventListener("keydown", function (e) { if (e.key === "Enter") { runSearch(); } });
  search.addEventListener("search", runSearch);
  // node sizes are known once drawn, and vis-network fits the whole graph itself on its first
  // drawing: fit the summary at the drawing after that
  window.addEventListener("load", function () { network.once("afterDrawing", fitSummary); network.redraw(); });
})();
