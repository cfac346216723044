// The graph explorer: the summary from /graph/summary.json, a node's neighbours fetched on
// click, filter by kind, search, focus on k hops, ?node= in the URL with back/forward, PNG.
// Store text reaches the DOM as text only (textContent, mlprovTipElement).
(function () {
  "use strict";
  var MIN_SCALE = 0.6;  // Fit stops here: below it labels are unreadable
  var config = JSON.parse(document.getElementById("graph-config").textContent);
  var container = document.getElementById("graph");
  var statusLine = document.getElementById("graph-status");
  var notice = document.getElementById("graph-notice");
  var details = document.getElementById("graph-details");
  var hops = document.getElementById("graph-hops");
  var nodes = new vis.DataSet([]);
  var edges = new vis.DataSet([]);
  var network = null;
  var kindsOff = {};
  var selected = null;
  var expanded = {};

  function say(text) { statusLine.textContent = text; }
  function warn(text) { notice.textContent = text; notice.hidden = !text; }

  function getJSON(url) {
    return fetch(url, {headers: {Accept: "application/json"}}).then(function (response) {
      if (!response.ok) { return response.text().then(function (t) { throw new Error(t.trim() || response.statusText); }); }
      return response.json();
    });
  }

  function add(data) {
    nodes.update(mlprovTips(data.nodes));
    edges.update(data.edges);
  }

  // kinds switched off and the k-hop focus decide which nodes are hidden
  function within(start, k) {
    var seen = {}; seen[start] = true;
    var frontier = [start];
    for (var step = 0; step < k; step++) {
      var next = [];
      frontier.forEach(function (id) {
        network.getConnectedNodes(id).forEach(function (other) {
          if (!seen[other]) { seen[other] = true; next.push(other); }
        });
      });
      frontier = next;
    }
    return seen;
  }
  function applyVisibility() {
    var k = Number(hops.value);
    var near = (k > 0 && selected !== null && nodes.get(selected)) ? within(selected, k) : null;
    nodes.update(nodes.get().map(function (n) {
      return {id: n.id, hidden: Boolean(kindsOff[n.mlprovKind]) || (near !== null && !near[n.id])};
    }));
  }

  function legend(kinds) {
    var box = document.getElementById("graph-kinds");
    kinds.forEach(function (kind) {
      var label = document.createElement("label");
      label.title = kind.description;
      var box2 = document.createElement("input");
      box2.type = "checkbox"; box2.checked = true; box2.value = kind.name;
      box2.setAttribute("data-kind", kind.name);
      box2.addEventListener("change", function () { kindsOff[kind.name] = !box2.checked; applyVisibility(); });
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = kind.fill; swatch.style.borderColor = kind.border;
      label.appendChild(box2); label.appendChild(swatch); label.appendChild(document.createTextNode(kind.legend));
      box.appendChild(label);
    });
  }

  function fitSummary() {
    var ids = nodes.getIds({filter: function (n) { return n.mlprovSummary === true && !n.hidden; }});
    if (!ids.length) { ids = nodes.getIds({filter: function (n) { return !n.hidden; }}); }
    network.fit({nodes: ids});
    if (network.getScale() >= MIN_SCALE || !ids.length) { return; }
    var left = Infinity, top = Infinity, bottom = -Infinity;
    ids.forEach(function (id) {
      var b = network.getBoundingBox(id);
      left = Math.min(left, b.left); top = Math.min(top, b.top); bottom = Math.max(bottom, b.bottom);
    });
    network.moveTo({scale: MIN_SCALE, position: {x: left - 20 + container.clientWidth / (2 * MIN_SCALE), y: (top + bottom) / 2}});
  }

  function showDetails(id) {
    details.textContent = "";
    var node = nodes.get(id);
    if (!node) { return; }
    details.appendChild(mlprovTipElement(node.mlprovTip || {head: node.label, rows: []}));
  }

  function expand(id) {
    if (expanded[id]) { return Promise.resolve(); }
    say("fetching the neighbours…");
    var url = config.neighbours + "&node=" + encodeURIComponent(id);
    return getJSON(url).then(function (data) {
      expanded[id] = true;
      var before = nodes.length;
      add(data);
      say((nodes.length - before) + " nodes added, " + nodes.length + " shown");
      warn(data.more ? "this node has " + data.total + " neighbours: showing " + (data.total - data.more) : "");
      applyVisibility();
    }).catch(function (error) { say(error.message); });
  }

  function select(id, push) {
    selected = id;
    var done = expand(id).then(function () {
      if (!nodes.get(id)) { say("no such node in this graph"); return; }
      network.selectNodes([id]);
      showDetails(id);
      applyVisibility();
      network.focus(id, {scale: Math.max(network.getScale(), MIN_SCALE), animation: false});
      document.body.setAttribute("data-selected", id);
    });
    if (push) {
      var url = new URL(window.location.href);
      url.searchParams.set("node", id);
      history.pushState({node: id}, "", url.pathname + url.search);
    }
    return done;
  }

  function search() {
    var q = document.getElementById("graph-search").value.trim().toLowerCase();
    if (!q) { network.unselectAll(); say(""); return; }
    var ids = nodes.getIds({filter: function (n) {
      return !n.hidden && (String(n.label || "").toLowerCase().indexOf(q) >= 0 || String(n.id).toLowerCase().indexOf(q) >= 0);
    }});
    network.selectNodes(ids);
    if (ids.length) { network.fit({nodes: ids, animation: true}); }
    say(ids.length + (ids.length === 1 ? " match" : " matches"));
  }

  function savePNG() {
    var canvas = container.querySelector("canvas");
    var link = document.createElement("a");
    link.href = canvas.toDataURL("image/png");
    link.download = "graph.png";
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  getJSON(config.summary).then(function (data) {
    add(data);
    legend(data.kinds);
    warn(data.notice);
    network = new vis.Network(container, {nodes: nodes, edges: edges}, data.options);
    window.mlprovGraph = network;
    network.on("click", function (params) {
      if (params.nodes.length === 1) { select(params.nodes[0], true); }
    });
    network.once("afterDrawing", fitSummary);
    say(nodes.length + " nodes shown of " + data.total);
    document.getElementById("graph-fit").addEventListener("click", fitSummary);
    document.getElementById("graph-png").addEventListener("click", savePNG);
    document.getElementById("graph-search").addEventListener("keydown", function (e) { if (e.key === "Enter") { search(); } });
    hops.addEventListener("change", applyVisibility);
    window.addEventListener("popstate", function () {
      var id = new URL(window.location.href).searchParams.get("node");
      if (id) { select(id, false); } else { selected = null; network.unselectAll(); applyVisibility(); }
    });
    var ready = config.node ? select(config.node, false) : Promise.resolve();
    ready.then(function () { document.body.setAttribute("data-graph-ready", "true"); });
  }).catch(function (error) { say(error.message); });
})();
