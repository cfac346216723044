// Plotly charts of the run and compare pages, drawn from the page's JSON block "chart-data":
// [{target, title, x_title, y_title, traces: [{name, x, y, mode, links?, text?}]}].
// Every text from the store goes to plotly with its markup characters as entities: plotly
// reads a small HTML subset (<a href>, <b>) in names and titles, and store text is no markup.
(function () {
  "use strict";

  function plain(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function isLocalLink(link) {
    return typeof link === "string" && link.charAt(0) === "/" && link.charAt(1) !== "/";
  }

  function draw(spec) {
    var target = document.getElementById(spec.target);
    if (!target) { return; }
    var traces = spec.traces.map(function (trace) {
      return {
        type: "scatter",
        mode: trace.mode || "lines+markers",
        name: plain(trace.name),
        x: trace.x,
        y: trace.y,
        text: (trace.text || []).map(plain),
        customdata: trace.links || [],
        marker: { size: trace.mode === "markers" ? 10 : 6 },
        hovertemplate: trace.text ? "%{text}<br>%{x}: %{y}<extra></extra>" : undefined
      };
    });
    var layout = {
      title: { text: plain(spec.title) },
      margin: { l: 60, r: 20, t: 48, b: 56 },
      xaxis: { title: { text: plain(spec.x_title) } },
      yaxis: { title: { text: plain(spec.y_title) } },
      showlegend: traces.length > 1,
      legend: { orientation: "h", y: -0.3 }
    };
    Plotly.newPlot(target, traces, layout, { displaylogo: false, responsive: true });
    target.on("plotly_click", function (event) {
      var link = event.points && event.points[0] && event.points[0].customdata;
      if (isLocalLink(link)) { window.location.assign(link); }
    });
  }

  var data = document.getElementById("chart-data");
  if (data && window.Plotly) {
    JSON.parse(data.textContent).forEach(draw);
  }

  // Selects that choose what a chart shows submit their form as soon as they change.
  Array.prototype.forEach.call(document.querySelectorAll("select[data-autosubmit]"), function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
