// Sessions: the list and a session's page follow its spend as calls come in.
(function () {
  "use strict";

  var marker = document.getElementById("live-session");
  var refresh;
  if (marker) {
    // A session's page: re-render its content in place, at most every 300 ms.
    var timer = null;
    refresh = function () {
      if (timer !== null) { return; }
      timer = window.setTimeout(function () {
        timer = null;
        fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live-events" } })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (html) {
            if (!html) { return; }
            var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("content-main");
            var current = document.getElementById("content-main");
            if (fresh && current) {
              current.innerHTML = fresh.innerHTML;
              document.dispatchEvent(new CustomEvent("live:refreshed"));
            }
          })
          .catch(function () {});
      }, 300);
    };
  } else {
    refresh = window.LiveEvents.refresher(300);
  }
  window.LiveEvents.connect(["sessions"], function (frame) {
    if (frame.event === "session.updated" && (!marker || frame.id === marker.dataset.sessionId)) {
      refresh();
    }
  });
})();
