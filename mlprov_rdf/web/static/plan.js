// The plan page: its step graph through vis-network, a step's details on click, and the
// copy button. Every text from the store goes into the DOM as textContent, never as markup.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("plan-graph-data").textContent);
  const steps = new Map(data.steps.map((step) => [step.id, step]));
  const container = document.getElementById("plan-graph");
  const panel = document.getElementById("step-details");

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  // A tooltip is an element, so vis-network shows it as it is and parses nothing.
  function tooltip(step) {
    const box = element("div", null, "plan-tooltip");
    box.appendChild(element("strong", step.index + ". " + step.label));
    box.appendChild(element("div", step.kind, "muted"));
    if (step.reads.length) box.appendChild(element("div", "reads " + step.reads.map((r) => r[0]).join(", ")));
    if (step.writes.length) box.appendChild(element("div", "writes " + step.writes.join(", ")));
    return box;
  }

  function section(title, list) {
    panel.appendChild(element("h3", title));
    panel.appendChild(list);
  }

  function showStep(id) {
    const step = steps.get(id);
    if (!step) return;
    panel.replaceChildren();
    panel.appendChild(element("h2", step.index + ". " + step.label, "step-title"));
    const meta = element("p", step.kind + (step.position !== null ? " · position " + step.position : ""), "muted");
    panel.appendChild(meta);
    panel.appendChild(element("p", step.id, "iri"));
    if (step.description) panel.appendChild(element("p", step.description, "step-description"));
    if (step.reads.length) {
      const table = element("table", null, "data step-reads");
      for (const [name, value] of step.reads) {
        const row = table.insertRow();
        row.insertCell().appendChild(element("code", name));
        row.insertCell().appendChild(element("code", value));
      }
      section("Reads", table);
    }
    if (step.writes.length) {
      const list = element("ul", null, "step-writes");
      for (const name of step.writes) list.appendChild(element("li", name));
      section("Writes", list);
    }
    if (step.code !== null) section("Code", element("pre", step.code, "step-code"));
    if (step.graph.startsWith("/")) {
      const link = element("a", "This step in the graph explorer", "step-graph-link");
      link.setAttribute("href", step.graph);
      panel.appendChild(element("p")).appendChild(link);
    }
  }

  const nodes = new vis.DataSet(data.nodes.map((node) => Object.assign({}, node, { title: tooltip(steps.get(node.id)) })));
  const edges = new vis.DataSet(data.edges);
  const network = new vis.Network(container, { nodes: nodes, edges: edges }, data.options);
  network.once("afterDrawing", () => { container.dataset.drawn = "true"; });
  network.on("click", (params) => { if (params.nodes.length) showStep(params.nodes[0]); });
  window.mlprovPlanGraph = network;

  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      const done = () => { button.textContent = "Copied"; };
      const select = () => {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById(button.dataset.copy));
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      };
      if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, select);
      else select();
    });
  }
})();
