// Model name inputs (agents_llm/admin.py ModelNameInput): the suggestions follow the
// provider chosen in the same form. Any other name can still be typed.
(function () {
  "use strict";

  function providerSelect(input) {
    var field = input.getAttribute("data-provider-field");
    var id = input.id.replace(/(model_name|fallback_model)$/, field);
    return document.getElementById(id);
  }

  function fill(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var select = providerSelect(input);
    if (!list || !select) return;
    var choices = JSON.parse(input.getAttribute("data-model-choices") || "{}");
    var names = choices[select.value] || [];
    if (list.getAttribute("data-provider") === select.value && list.options.length === names.length) return;
    list.replaceChildren.apply(list, names.map(function (name) {
      var option = document.createElement("option");
      option.value = name;
      return option;
    }));
    list.setAttribute("data-provider", select.value);
  }

  function inputs() {
    return Array.prototype.slice.call(document.querySelectorAll("input[data-model-choices]"));
  }

  document.addEventListener("DOMContentLoaded", function () { inputs().forEach(fill); });
  // Inline rows added later, and a provider changed after load.
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("input[data-model-choices]")) fill(event.target);
  });
  document.addEventListener("change", function (event) {
    if (event.target.tagName !== "SELECT") return;
    inputs().forEach(function (input) { if (providerSelect(input) === event.target) fill(input); });
  });
})();
