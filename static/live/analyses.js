// Analyses: the list refreshes as analyses change; an analysis page re-renders its
// live part (#analysis-live, rendered by the server as on a reload) on each
// analysis.updated event about it, and draws the cost per role.
(function () {
  "use strict";

  var chart = null;

  function drawChart() {
    var canvas = document.getElementById("chart-role-cost");
    var source = document.getElementById("analysis-chart-data");
    if (!canvas || !source || !window.Chart) { return; }
    var data = JSON.parse(source.textContent);
    if (chart) { chart.destroy(); }
    chart = new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: [{ label: "USD", data: data.costs, backgroundColor: "#417690" }] },
      options: { indexAxis: "y", animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } } },
    });
  }

  function livePage(live) {
    var id = live.dataset.analysisId;
    var pending = false;
    var again = false;

    function refresh() {
      if (pending) { again = true; return; }
      pending = true;
      fetch(window.location.pathname, { credentials: "same-origin", headers: { "X-Requested-With": "live-events" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          var fresh = html && new DOMParser().parseFromString(html, "text/html").getElementById("analysis-live");
          var current = document.getElementById("analysis-live");
          if (fresh && current) {
            var open = {};
            current.querySelectorAll("details[open]").forEach(function (d) { open[d.id] = true; });
            current.innerHTML = fresh.innerHTML;
            current.dataset.status = fresh.dataset.status;
            current.querySelectorAll("details").forEach(function (d) { if (open[d.id]) { d.open = true; } });
            drawChart();
          }
        })
        .catch(function () {})
        .then(function () {
          pending = false;
          if (again) { again = false; refresh(); }
        });
    }

    window.LiveEvents.connect(["analyses"], function (frame) {
      if (frame.event === "analysis.updated" && String(frame.id) === id) { refresh(); }
    });
    // Whatever happened between the page's rendering and the socket's subscription.
    var watch = window.setInterval(function () {
      if (document.documentElement.dataset.liveEvents === "subscribed") {
        window.clearInterval(watch);
        refresh();
      }
    }, 200);
  }

  function start() {
    var live = document.getElementById("analysis-live");
    if (live) {
      drawChart();
      livePage(live);
    } else if (document.getElementById("changelist-form")) {
      var refresh = window.LiveEvents.refresher(300);
      window.LiveEvents.connect(["analyses"], function (frame) {
        if (frame.event === "analysis.updated") { refresh(); }
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
