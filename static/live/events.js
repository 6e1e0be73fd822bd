// A small client for /ws/events/ (DESIGN.md §3): the admin's session authenticates
// the socket; it subscribes to topics, hands every event frame to `onEvent`, and
// reconnects with backoff when the connection drops.
(function () {
  "use strict";

  function connect(topics, onEvent) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + "/ws/events/";
    var delay = 500;
    var socket = null;

    function open() {
      socket = new WebSocket(url);
      socket.addEventListener("open", function () {
        delay = 500;
        socket.send(JSON.stringify({ action: "subscribe", topics: topics }));
        document.documentElement.dataset.liveEvents = "connected";
      });
      socket.addEventListener("message", function (message) {
        var frame;
        try {
          frame = JSON.parse(message.data);
        } catch (e) {
          return;
        }
        if (frame.event === "subscribed") {
          document.documentElement.dataset.liveEvents = "subscribed";
        } else if (frame.topic) {
          onEvent(frame);
        }
      });
      socket.addEventListener("close", function () {
        document.documentElement.dataset.liveEvents = "disconnected";
        window.setTimeout(open, delay);
        delay = Math.min(delay * 2, 15000);
      });
    }

    open();
    return { close: function () { if (socket) { socket.close(); } } };
  }

  // Re-render a changelist's results in place (the server renders rows exactly as
  // on a reload), at most once per `wait` ms, and never under a user's selection.
  function refresher(wait) {
    var timer = null;
    function refresh() {
      timer = null;
      var form = document.getElementById("changelist-form");
      if (!form || form.querySelector("input.action-select:checked")) {
        return;
      }
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live-events" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("changelist-form");
          var current = document.getElementById("changelist-form");
          if (fresh && current && !current.querySelector("input.action-select:checked")) {
            current.innerHTML = fresh.innerHTML;
            document.dispatchEvent(new CustomEvent("live:refreshed"));
          }
        })
        .catch(function () {});
    }
    return function () {
      if (timer === null) {
        timer = window.setTimeout(refresh, wait || 300);
      }
    };
  }

  window.LiveEvents = { connect: connect, refresher: refresher };
})();
