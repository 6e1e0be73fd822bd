// Experiments: the list refreshes as their analyses change; an experiment page
// re-renders its live part (progress and the grid, #experiment-live) on each
// analysis.updated event of one of its cells, and its results (#experiment-results)
// when a cell has finished. Both are rendered by the server as on a reload.
(function () {
  "use strict";

  var FINISHED = { succeeded: true, failed: true, stopped: true };
  // "experiments" carries experiment.updated where the server publishes it (a server
  // without the topic answers with an error frame and subscribes the rest).
  var TOPICS = ["analyses", "experiments"];

  // Fetch `url` and put its element `id` in place of the page's, at most one fetch at
  // a time and one more after it for whatever arrived meanwhile.
  function replacer(url, id) {
    var pending = false;
    var again = false;
    function refresh() {
      if (pending) { again = true; return; }
      pending = true;
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "live-events" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          var fresh = html && new DOMParser().parseFromString(html, "text/html").getElementById(id);
          var current = document.getElementById(id);
          if (fresh && current) {
            current.innerHTML = fresh.innerHTML;
            if (fresh.dataset.status) { current.dataset.status = fresh.dataset.status; }
            document.dispatchEvent(new CustomEvent("live:refreshed", { detail: { id: id } }));
          }
        })
        .catch(function () {})
        .then(function () {
          pending = false;
          if (again) { again = false; window.setTimeout(refresh, 250); }
        });
    }
    return refresh;
  }

  function livePage(live) {
    var id = live.dataset.experimentId;
    var refreshLive = replacer(live.dataset.liveUrl, "experiment-live");
    var refreshResults = replacer(live.dataset.resultsUrl, "experiment-results");
    var settle = null;

    window.LiveEvents.connect(TOPICS, function (frame) {
      if (frame.event === "experiment.updated" && String(frame.id) === id) {
        refreshLive();
        refreshResults();
        return;
      }
      if (frame.event !== "analysis.updated" || !frame.data || String(frame.data.experiment) !== id) { return; }
      refreshLive();
      if (FINISHED[frame.data.status]) {
        refreshResults();
        // The experiment's own state (finished, stopped) is written as its last cell
        // ends: look once more a moment later.
        window.clearTimeout(settle);
        settle = window.setTimeout(function () { refreshLive(); refreshResults(); }, 1500);
      }
    });
    // Whatever happened between the page's rendering and the socket's subscription.
    var watch = window.setInterval(function () {
      if (document.documentElement.dataset.liveEvents === "subscribed") {
        window.clearInterval(watch);
        refreshLive();
      }
    }, 200);
  }

  function start() {
    var live = document.getElementById("experiment-live");
    if (live) {
      livePage(live);
    } else if (document.getElementById("changelist-form")) {
      var refresh = window.LiveEvents.refresher(500);
      window.LiveEvents.connect(TOPICS, function (frame) {
        if (frame.event === "experiment.updated" || (frame.event === "analysis.updated" && frame.data &&
            frame.data.experiment)) { refresh(); }
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
