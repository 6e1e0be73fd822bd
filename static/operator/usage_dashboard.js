// The usage dashboard's charts (Chart.js, static/vendor/chartjs/), drawn from the
// figures the page embeds as #usage-data: the same numbers as its tables.
(function () {
  "use strict";

  var PALETTE = ["#417690", "#e07a1f", "#2e7d32", "#8e44ad", "#c0392b", "#16a085", "#b7950b", "#5d6d7e", "#a04000"];

  function colour(n, alpha) {
    var hex = PALETTE[n % PALETTE.length];
    if (alpha === undefined) return hex;
    var v = parseInt(hex.slice(1), 16);
    return "rgba(" + (v >> 16) + "," + ((v >> 8) & 255) + "," + (v & 255) + "," + alpha + ")";
  }

  // As the tables (tradingagents.formatting.money): $1,234.5678.
  function usd(value) { return "$" + Number(value).toLocaleString("en-US", {minimumFractionDigits: 4, maximumFractionDigits: 4}); }

  var common = {
    responsive: true, maintainAspectRatio: false, animation: false,
    interaction: {mode: "index", intersect: false},
    plugins: {legend: {position: "bottom", labels: {boxWidth: 12}}},
  };

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    config.options = Object.assign({}, common, config.options || {});
    canvas.chart = new window.Chart(canvas, config);
  }

  function bars(id, data, horizontal) {
    draw(id, {
      type: "bar",
      data: {labels: data.labels, datasets: [{label: "USD", data: data.cost, backgroundColor: colour(0, 0.8)}]},
      options: {
        indexAxis: horizontal ? "y" : "x",
        plugins: {legend: {display: false}, tooltip: {callbacks: {label: function (c) { return usd(c.raw) + " · " + data.tokens[c.dataIndex].toLocaleString() + " tokens"; }}}},
      },
    });
  }

  // Dates typed in make the period custom: the preset would otherwise win.
  function customOnDates() {
    var days = document.getElementById("id_days");
    ["id_date_from", "id_date_to"].forEach(function (id) {
      var input = document.getElementById(id);
      if (input && days) input.addEventListener("change", function () { days.value = ""; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    customOnDates();
    var data = JSON.parse(document.getElementById("usage-data").textContent);
    var charts = data.charts;
    if (!window.Chart) return;

    // A bar per day (its agents stacked): a line between days read as spikes.
    draw("chart-spend-day", {
      type: "bar",
      data: {
        labels: charts.days,
        datasets: charts.spend_by_day_agent.map(function (s, n) {
          return {label: s.label, data: s.data, backgroundColor: colour(n, 0.8)};
        }),
      },
      options: {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, ticks: {callback: usd}}}, plugins: {tooltip: {callbacks: {label: function (c) { return c.dataset.label + ": " + usd(c.raw); }}}}},
    });

    var tokens = charts.tokens_by_day;
    draw("chart-tokens-day", {
      type: "bar",
      data: {
        labels: charts.days,
        datasets: [
          {label: "input", data: tokens.input, backgroundColor: colour(0, 0.8)},
          {label: "output", data: tokens.output, backgroundColor: colour(1, 0.8)},
          {label: "of which cache read", data: tokens.cache_read, backgroundColor: colour(2, 0.8), stack: "detail"},
          {label: "of which reasoning", data: tokens.reasoning, backgroundColor: colour(3, 0.8), stack: "detail"},
        ],
      },
      options: {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true}}},
    });

    bars("chart-agents", charts.agents, true);
    bars("chart-models", charts.models, true);
    bars("chart-sessions", charts.sessions, true);

    var outcomes = charts.outcomes_by_day;
    draw("chart-outcomes", {
      type: "bar",
      data: {
        labels: charts.days,
        datasets: [
          {label: "answered", data: outcomes.ok, backgroundColor: colour(2, 0.7)},
          {label: "failed or refused", data: outcomes.failed, backgroundColor: colour(4, 0.8)},
          {label: "fell back (answered)", data: outcomes.fell_back, backgroundColor: colour(1, 0.8), stack: "fallback"},
        ],
      },
      options: {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true}}},
    });
  });
})();
