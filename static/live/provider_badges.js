// Provider list and change pages: the validation badge (providers.admin.validation_badge)
// follows the provider's status live; the list re-renders when providers come or go.
(function () {
  "use strict";

  var colours = JSON.parse(document.getElementById("badge-colours").textContent);
  var refreshList = document.getElementById("changelist-form") ? window.LiveEvents.refresher(300) : null;

  function updateBadges(id, data) {
    var badges = document.querySelectorAll('.validation-badge[data-provider-id="' + id + '"]');
    badges.forEach(function (badge) {
      badge.dataset.status = data.validation_status;
      badge.textContent = data.validation_status_display || data.validation_status;
      badge.style.background = colours[data.validation_status] || "#6b7280";
      badge.title = data.validation_error || "";
    });
    return badges.length;
  }

  function updateChangeForm(id, data) {
    var marker = document.getElementById("live-provider");
    if (!marker || marker.dataset.providerId !== String(id)) { return; }
    var form = marker.closest("form") || document;
    var fields = {
      validation_error: data.validation_error || "-",
      validated_at: data.validated_at ? new Date(data.validated_at).toLocaleString() : "-",
      available_models: (data.available_models || []).length ? JSON.stringify(data.available_models) : "[]",
    };
    Object.keys(fields).forEach(function (name) {
      var cell = form.querySelector(".field-" + name + " .readonly");
      if (cell) { cell.textContent = fields[name]; }
    });
  }

  window.LiveEvents.connect(["providers"], function (frame) {
    if (frame.event === "created" || frame.event === "deleted") {
      if (refreshList) { refreshList(); }
      return;
    }
    if (frame.data && frame.data.validation_status) {
      updateBadges(frame.id, frame.data);
      updateChangeForm(frame.id, frame.data);
    }
  });
})();
