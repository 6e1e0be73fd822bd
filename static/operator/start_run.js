// The run form: choosing a task puts its placeholders in the input box as a JSON
// template, unless the box already holds something other than a template.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var templates = JSON.parse(document.getElementById("input-templates").textContent);
    var task = document.getElementById("id_task");
    var input = document.getElementById("id_input");
    if (!task || !input) return;

    function untouched() {
      var text = input.value.trim();
      if (text === "" || text === "{}" || text === "null") return true;
      return Object.keys(templates).some(function (id) { return templates[id].trim() === text; });
    }

    task.addEventListener("change", function () {
      if (templates[task.value] !== undefined && untouched()) input.value = templates[task.value];
    });
  });
})();
