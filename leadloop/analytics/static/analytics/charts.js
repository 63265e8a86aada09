// The dashboard's charts, drawn with the vendored Chart.js from the figures the page wrote as
// JSON (json_script) beside them: each <canvas data-chart="name" data-kind="line|bar|hbar|
// doughnut" data-unit="money|days"> draws the series of that name. Labels are set as text by
// Chart.js, never as HTML, so a source or stage name cannot run as script.
(function () {
  "use strict";
  var source = document.getElementById("measure-charts");
  if (!source || typeof Chart === "undefined") return;
  var series = JSON.parse(source.textContent);
  var palette = ["#2457d6", "#0f9d76", "#d08a13", "#8a4fd3", "#d1435b", "#1a9bb5", "#6b7a90",
    "#b5651d", "#3f8f3f", "#c2417f"];
  var money = new Intl.NumberFormat(undefined, { style: "currency", currency: "USD", maximumFractionDigits: 0 });
  var plain = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

  function formatter(unit) {
    if (unit === "money") return function (v) { return money.format(v); };
    if (unit === "days") return function (v) { return plain.format(v) + " d"; };
    return function (v) { return plain.format(v); };
  }

  function config(kind, data, unit) {
    var format = formatter(unit);
    var horizontal = kind === "hbar";
    var dataset = { data: data.values, label: "", borderWidth: kind === "line" ? 2 : 0 };
    if (kind === "line") {
      dataset.borderColor = palette[0];
      dataset.backgroundColor = "rgba(36, 87, 214, .12)";
      dataset.fill = true;
      dataset.pointRadius = data.values.length > 60 ? 0 : 2;
      dataset.tension = 0.25;
    } else {
      dataset.backgroundColor = data.labels.map(function (_, i) { return palette[i % palette.length]; });
    }
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { display: kind === "doughnut", position: "right" },
        tooltip: { callbacks: { label: function (item) {
          var value = kind === "doughnut" ? item.parsed : (horizontal ? item.parsed.x : item.parsed.y);
          return value === null ? "no figure" : format(value);
        } } }
      }
    };
    if (kind !== "doughnut") {
      var valueAxis = { beginAtZero: true, ticks: { callback: function (v) { return format(v); } } };
      var labelAxis = { ticks: { autoSkip: true, maxRotation: 0 } };
      options.indexAxis = horizontal ? "y" : "x";
      options.scales = horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis };
    }
    return {
      type: kind === "hbar" ? "bar" : kind,
      data: { labels: data.labels, datasets: [dataset] },
      options: options
    };
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var data = series[canvas.dataset.chart];
    if (!data) return;
    if (data.values.every(function (value) { return value === null; })) {
      canvas.closest(".chart-box").classList.add("empty");
      return;
    }
    new Chart(canvas, config(canvas.dataset.kind, data, canvas.dataset.unit));
  });
})();
