(function () {
  if (typeof network === "undefined") { return; }
  function setGroup(hub, show) {
    var members = nodes.get({filter: function (n) { return n.mlprovGroup === hub; }});
    if (show === undefined) { show = members.length > 0 && members[0].hidden === true; }
    nodes.update(members.map(function (n) { return {id: n.id, hidden: !show}; }));
    var links = edges.get({filter: function (e) { return e.mlprovGroup === hub; }});
    edges.update(links.map(function (e) { return {id: e.id, hidden: !show}; }));
    return show;
  }
  var hubs = nodes.get({filter: function (n) { return n.mlprovHub === true; }}).map(function (n) { return n.id; });
  var envHubs = nodes.get({filter: function (n) { return n.mlprovHub === true && n.mlprovKind === "environment"; }})
    .map(function (n) { return n.id; });
  var expanded = false;
  network.on("click", function (params) {
    if (params.nodes.length === 1 && hubs.indexOf(params.nodes[0]) >= 0) { setGroup(params.nodes[0]); }
  });
  var groupsButton = document.getElementById("mp-groups");
  if (groupsButton) {
    if (envHubs.length === 0) { groupsButton.style.display = "none"; }
    groupsButton.addEventListener("click", function () {
      expanded = !expanded;
      envHubs.forEach(function (h) { setGroup(h, expanded); });
      groupsButton.textContent = expanded ? "Hide environment" : "Show environment";
      network.fit({animation: true});
    });
  }
  document.getElementById("mp-fit").addEventListener("click", function () { network.fit({animation: true}); });
  var search = document.getElementById("mp-search");
  var found = document.getElementById("mp-found");
  function runSearch() {
    var q = search.value.trim().toLowerCase();
    if (!q) { network.unselectAll(); found.textContent = ""; return; }
    var hits = nodes.get({filter: function (n) { return String(n.label || "").toLowerCase().indexOf(q) >= 0; }});
    hits.forEach(function (n) { if (n.hidden && n.mlprovGroup) { setGroup(n.mlprovGroup, true); } });
    var ids = hits.map(function (n) { return n.id; });
    network.selectNodes(ids);
    if (ids.length) { network.fit({nodes: ids, animation: true}); }
    found.textContent = ids.length + (ids.length === 1 ? " match" : " matches");
  }
  search.addEventListener("keydown", function (e) { if (e.key === "Enter") { runSearch(); } });
  search.addEventListener("search", runSearch);
  // node sizes are known only once drawn: fit after the first drawing; a long pipeline
  // would shrink its labels out of reach, so then start readable at its left end (plan, run)
  network.once("afterDrawing", function () {
    network.fit();
    var minScale = 0.7;
    if (network.getScale() < minScale) {
      var ids = nodes.getIds({filter: function (n) { return !n.hidden; }});
      var box = null;
      ids.forEach(function (id) {
        var b = network.getBoundingBox(id);
        if (!box) { box = {left: b.left, right: b.right, top: b.top, bottom: b.bottom}; return; }
        box.left = Math.min(box.left, b.left); box.top = Math.min(box.top, b.top);
        box.bottom = Math.max(box.bottom, b.bottom);
      });
      var width = document.getElementById("mynetwork").clientWidth;
      network.moveTo({scale: minScale, position: {x: box.left - 20 + width / (2 * minScale), y: (box.top + box.bottom) / 2}});
      var hint = document.getElementById("mp-found");
      if (hint) { hint.textContent = "showing the start: drag to pan, Fit shows everything"; }
    }
  });
})();
