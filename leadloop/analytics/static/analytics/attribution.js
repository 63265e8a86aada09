// The attribution page's grouped bar chart: one group per channel (or campaign), one bar per
// model, from the figures the page wrote as JSON beside its table.
(function () {
  "use strict";
  var canvas = document.getElementById("attribution-chart");
  var source = document.getElementById("attribution-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var colours = ["#2f5bd3", "#0f9d76", "#d08a13", "#8a4fd3", "#d1435b"];
  data.datasets.forEach(function (dataset, i) {
    dataset.backgroundColor = colours[i % colours.length];
  });
  var money = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  new Chart(canvas, {
    type: "bar",
    data: data,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { position: "bottom" },
        tooltip: {
          callbacks: {
            label: function (item) { return item.dataset.label + ": " + money.format(item.parsed.y); }
          }
        }
      },
      scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return money.format(v); } } } }
    }
  });
})();

// The shared filter bar knows only the filters (and `by`): without this, changing the period
// would quietly put the half-life back to its default.
(function () {
  "use strict";
  var bar = document.querySelector("form.measure-filters");
  var halfLife = new URLSearchParams(window.location.search).get("half_life_days");
  if (!bar || !halfLife) return;
  var input = document.createElement("input");
  input.type = "hidden";
  input.name = "half_life_days";
  input.value = halfLife;
  bar.appendChild(input);
})();
