// A node's tooltip from its data (mlprovTip), built with text nodes only: store text is
// never parsed as markup. Shared by the offline page and the web app's graph explorer.
function mlprovTipElement(tip) {
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  var box = el("div", "mp-tip");
  var head = el("div", "mp-tip-head");
  head.appendChild(el("b", "", tip.head || ""));
  head.appendChild(el("span", "mp-tip-kind", tip.kind || ""));
  box.appendChild(head);
  if (tip.iri) { box.appendChild(el("div", "mp-tip-iri", tip.iri)); }
  var rows = tip.rows || [];
  if (rows.length) {
    var table = el("table");
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("th", "", row[0]));
      var td = el("td");
      row[1].forEach(function (value, i) {
        if (i) { td.appendChild(el("br")); }
        td.appendChild(el(value[0].indexOf("\n") >= 0 ? "pre" : "span", "", value[0]));
        if (value[1]) { td.appendChild(el("span", "mp-dt", " " + value[1])); }
      });
      tr.appendChild(td);
      table.appendChild(tr);
    });
    box.appendChild(table);
  }
  return box;
}
function mlprovTips(items) {
  // vis-network shows an element title as it is: ours hold text nodes only
  for (var i = 0; i < items.length; i++) {
    if (items[i].mlprovTip) { items[i].title = mlprovTipElement(items[i].mlprovTip); }
  }
  return items;
}
