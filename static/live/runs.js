// Agent runs list: new and finished runs show up without a reload.
(function () {
  "use strict";

  var refresh = window.LiveEvents.refresher(300);
  window.LiveEvents.connect(["runs"], function (frame) {
    if (frame.event === "run.queued" || frame.event === "run.started" || frame.event === "run.finished") {
      refresh();
    }
  });
})();
