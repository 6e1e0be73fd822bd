/* The schema builder widget: one card per field, a live JSON preview, a raw-JSON mode,
 * and errors (from the server, or from live checks) shown next to the card they concern.
 * The real form field is the textarea; in card mode it is hidden and kept up to date. */
(function () {
  "use strict";
  const M = window.SchemaModel;
  const TYPE_LABELS = {
    string: "Text", number: "Number", integer: "Whole number", boolean: "Yes / no",
    array: "List", object: "Group of fields",
  };

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, value);
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  // Every allowed value shows, and a line for the next one (three values were cut at two rows).
  function enumRows(text) {
    return Math.min(12, Math.max(3, text.split("\n").length + 1));
  }

  function numberOrNull(text, integer) {
    const trimmed = String(text).trim();
    if (trimmed === "") return null;
    const value = Number(trimmed);
    if (!isFinite(value)) return NaN;
    return integer && !Number.isInteger(value) ? NaN : value;
  }

  function csrfToken(form) {
    const input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  class Builder {
    constructor(host) {
      this.host = host;
      this.textarea = host.querySelector("textarea");
      this.form = host.closest("form");
      this.validateUrl = host.dataset.validateUrl;
      const errorsNode = document.getElementById(host.dataset.errorsId);
      this.serverErrors = errorsNode ? JSON.parse(errorsNode.textContent) : [];
      this.liveErrors = null;
      this.inputErrors = [];
      this.timer = null;
      this.requestSeq = 0;
      this.buildFrame();
      this.load(this.textarea.value, true);
      if (this.form) {
        this.form.addEventListener("submit", (event) => this.beforeSubmit(event));
      }
    }

    buildFrame() {
      this.notice = el("p", { className: "sb-notice", "data-role": "notice", hidden: true });
      this.rootErrors = el("ul", { className: "errorlist sb-errors", "data-role": "root-errors" });
      this.cards = el("div", { className: "sb-cards", "data-role": "cards" });
      this.addRoot = el("button", { type: "button", className: "button sb-add", "data-role": "add-field", text: "+ Add field" });
      this.addRoot.addEventListener("click", () => {
        this.root.fields.push(M.newField("string", this.freeName(this.root)));
        this.changed(true);
      });
      this.toggle = el("button", { type: "button", className: "button sb-toggle", "data-role": "toggle-raw", text: "Edit raw JSON" });
      this.toggle.addEventListener("click", () => (this.raw ? this.toCards() : this.toRaw("")));
      this.preview = el("pre", { className: "sb-preview", "data-role": "preview" });
      this.status = el("p", { className: "sb-status", "data-role": "status", "aria-live": "polite" });
      this.rootFoot = el("span", { className: "sb-root-foot" });
      const cardPane = el("div", { className: "sb-pane sb-card-pane" }, [
        this.rootErrors, this.cards, el("div", { className: "sb-object-foot" }, [this.addRoot, this.rootFoot]),
      ]);
      const previewPane = el("div", { className: "sb-pane sb-preview-pane" }, [
        el("h3", { text: "JSON Schema (read-only preview)" }), this.preview,
      ]);
      this.cardMode = el("div", { className: "sb-card-mode" }, [cardPane, previewPane]);
      this.textarea.classList.add("sb-raw");
      this.textarea.addEventListener("input", () => this.scheduleValidation());
      const bar = el("div", { className: "sb-bar" }, [this.toggle, this.status]);
      this.host.insertBefore(bar, this.textarea);
      this.host.insertBefore(this.notice, this.textarea);
      this.host.insertBefore(this.cardMode, this.textarea);
    }

    freeName(parent) {
      const names = new Set(parent.fields.map((f) => f.name));
      let i = parent.fields.length + 1;
      while (names.has("field_" + i)) i += 1;
      return "field_" + i;
    }

    load(text, initial) {
      let schema;
      if (!text.trim()) {
        schema = { type: "object", properties: {}, required: [], additionalProperties: false };
        if (initial) this.textarea.value = JSON.stringify(schema, null, 2);
      } else {
        try {
          schema = JSON.parse(text);
        } catch (err) {
          this.toRaw("The text is not valid JSON (" + err.message + "), so it is shown as raw JSON.");
          return false;
        }
      }
      const result = M.schemaToModel(schema);
      if (!result.model) {
        this.toRaw("This schema uses things the cards cannot show, so it is shown as raw JSON: " + result.problems.slice(0, 5).join("; ") + ".");
        return false;
      }
      this.root = result.model;
      this.raw = false;
      this.cardMode.hidden = false;
      this.textarea.hidden = true;
      this.toggle.textContent = "Edit raw JSON";
      this.notice.hidden = true;
      this.render();
      this.sync(false);
      this.showErrors();
      return true;
    }

    toRaw(reason) {
      this.raw = true;
      this.cardMode.hidden = true;
      this.textarea.hidden = false;
      this.toggle.textContent = "Back to cards";
      this.notice.textContent = reason;
      this.notice.hidden = !reason;
      this.showErrors();
    }

    toCards() {
      this.serverErrors = [];
      this.liveErrors = null;
      if (this.load(this.textarea.value, false)) this.scheduleValidation();
    }

    // Any change in the cards: rebuild the JSON, and re-render the cards when the structure changed.
    changed(structural) {
      if (structural) this.render();
      this.serverErrors = [];
      this.sync(true);
    }

    sync(validate) {
      this.schema = M.modelToSchema(this.root);
      const text = JSON.stringify(this.schema, null, 2);
      this.preview.textContent = text;
      this.textarea.value = text;
      this.updatePaths();
      this.showErrors();
      if (validate) this.scheduleValidation();
    }

    scheduleValidation() {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.validate(), 300);
    }

    async validate() {
      if (!this.validateUrl) return;
      let schema;
      try {
        schema = this.raw ? JSON.parse(this.textarea.value) : this.schema;
      } catch (err) {
        this.liveErrors = [{ path: "", msg: "Not valid JSON: " + err.message }];
        this.showErrors();
        return;
      }
      const seq = ++this.requestSeq;
      this.status.textContent = "Checking…";
      try {
        const response = await fetch(this.validateUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(this.form) },
          body: JSON.stringify({ schema: schema }),
        });
        const body = await response.json();
        if (seq !== this.requestSeq) return;
        if (response.ok) {
          this.liveErrors = body.valid ? [] : body.errors;
        } else {
          const errors = body.errors && body.errors.length ? body.errors : [{ msg: body.detail || "The schema could not be checked." }];
          this.liveErrors = errors.map((e) => ({ path: "", msg: e.msg }));
        }
        this.status.textContent = this.liveErrors.length ? "The schema has problems (see below)." : "The schema is valid.";
        this.status.dataset.valid = this.liveErrors.length ? "false" : "true";
      } catch (err) {
        if (seq === this.requestSeq) this.status.textContent = "Could not check the schema right now.";
      }
      this.showErrors();
    }

    beforeSubmit(event) {
      if (this.raw) return;
      this.sync(false);
      const errors = M.clientErrors(this.root).concat(this.inputErrors);
      if (errors.length) {
        event.preventDefault();
        this.liveErrors = (this.liveErrors || []).concat(errors);
        this.showErrors();
        this.status.textContent = "Fix the fields marked in red before saving.";
      }
    }

    // Errors next to cards -----------------------------------------------------------

    showErrors() {
      const errors = [].concat(
        this.serverErrors,
        this.liveErrors || [],
        this.raw ? [] : M.clientErrors(this.root || M.newRoot()),
        this.raw ? [] : this.inputErrors,
      );
      const seen = new Set();
      for (const list of this.host.querySelectorAll(".sb-card-errors")) list.replaceChildren();
      this.rootErrors.replaceChildren();
      for (const card of this.host.querySelectorAll(".sb-card")) card.classList.remove("sb-has-errors");
      const cards = this.raw ? [] : Array.from(this.host.querySelectorAll(".sb-card"));
      for (const error of errors) {
        const key = error.path + "\n" + error.msg;
        if (seen.has(key)) continue;
        seen.add(key);
        let best = null;
        for (const card of cards) {
          const path = card.dataset.path;
          if ((error.path === path || error.path.startsWith(path + "/")) && (!best || path.length > best.dataset.path.length)) {
            best = card;
          }
        }
        const item = el("li", { "data-path": error.path, text: (best ? "" : (error.path || "/") + ": ") + error.msg });
        if (best) {
          best.querySelector(":scope > .sb-card-errors").appendChild(item);
          best.classList.add("sb-has-errors");
        } else {
          this.rootErrors.appendChild(item);
        }
      }
    }

    // Cards --------------------------------------------------------------------------

    render() {
      this.cards.replaceChildren(...this.root.fields.map((f, i) => this.card(f, this.root, i, false)));
      const extra = el("input", { type: "checkbox", "data-role": "root-additional", checked: this.root.additional !== false });
      extra.addEventListener("change", () => this.setAdditional(this.root, extra.checked));
      this.rootFoot.replaceChildren(el("label", { className: "sb-inline" }, [extra, document.createTextNode(" allow fields not listed here")]));
    }

    // Checked means "other fields are allowed": absent in a loaded schema stays absent.
    setAdditional(field, allowed) {
      field.additional = allowed ? (field.additionalAbsent ? null : true) : false;
      this.changed(false);
    }

    updatePaths() {
      const walk = (field, path) => {
        if (field._card) field._card.dataset.path = M.pointer(path);
        if (field.type === "object") field.fields.forEach((c) => walk(c, path.concat(["properties", c.name])));
        if (field.type === "array" && field.items) walk(field.items, path.concat(["items"]));
      };
      walk(this.root, []);
    }

    card(field, parent, index, isItem) {
      const card = el("div", { className: "sb-card" + (isItem ? " sb-item-card" : ""), "data-type": field.type });
      Object.defineProperty(field, "_card", { value: card, configurable: true, enumerable: false, writable: true });
      const head = el("div", { className: "sb-head" });
      if (!isItem) {
        const name = el("input", { type: "text", className: "sb-name", "data-role": "name", placeholder: "field name", value: field.name, "aria-label": "Field name" });
        name.addEventListener("input", () => {
          field.name = name.value;
          this.changed(false);
        });
        head.appendChild(name);
      } else {
        head.appendChild(el("span", { className: "sb-item-label", text: "Each item is" }));
      }
      const type = el("select", { "data-role": "type", "aria-label": "Type" },
        M.TYPES.map((t) => el("option", { value: t, text: TYPE_LABELS[t], selected: t === field.type })));
      type.addEventListener("change", () => {
        field.type = type.value;
        field.enum = [];
        if (field.type === "array") M.itemFor(field);
        this.changed(true);
      });
      head.appendChild(type);
      if (!isItem) {
        head.appendChild(this.checkbox(field, "required", "required"));
      }
      head.appendChild(this.checkbox(field, "nullable", "may be null"));
      if (!isItem) {
        const siblings = parent.fields;
        head.appendChild(this.button("↑", "move-up", "Move up", index === 0, () => {
          [siblings[index - 1], siblings[index]] = [siblings[index], siblings[index - 1]];
          this.changed(true);
        }));
        head.appendChild(this.button("↓", "move-down", "Move down", index === siblings.length - 1, () => {
          [siblings[index + 1], siblings[index]] = [siblings[index], siblings[index + 1]];
          this.changed(true);
        }));
        head.appendChild(this.button("✕", "remove", "Remove this field", false, () => {
          siblings.splice(index, 1);
          this.changed(true);
        }));
      }
      card.appendChild(head);
      card.appendChild(this.textInput(field, "description", "Description (what the model should put here)", "sb-description"));
      const body = el("div", { className: "sb-body" });
      if (field.type === "string" || field.type === "number" || field.type === "integer") {
        body.appendChild(this.enumInput(field));
      }
      if (field.type === "string") {
        body.appendChild(this.numberInput(field, "minLength", "min length", true));
        body.appendChild(this.numberInput(field, "maxLength", "max length", true));
        body.appendChild(el("label", { className: "sb-inline sb-pattern-label" }, [
          document.createTextNode("pattern "), this.textInput(field, "pattern", "regular expression", "sb-pattern")]));
        const format = el("select", { "data-role": "format", "aria-label": "Format" },
          [el("option", { value: "", text: "any format", selected: !field.format })].concat(
            M.FORMATS.map((f) => el("option", { value: f, text: f, selected: f === field.format }))));
        format.addEventListener("change", () => {
          field.format = format.value;
          this.changed(false);
        });
        body.appendChild(el("label", { className: "sb-inline" }, [document.createTextNode("format "), format]));
      } else if (field.type === "number" || field.type === "integer") {
        body.appendChild(this.boundInput(field, "minimum", "min"));
        body.appendChild(this.boundInput(field, "maximum", "max"));
      } else if (field.type === "array") {
        body.appendChild(this.numberInput(field, "minItems", "min items", true));
        body.appendChild(this.numberInput(field, "maxItems", "max items", true));
        const items = el("div", { className: "sb-items" }, [this.card(M.itemFor(field), field, 0, true)]);
        body.appendChild(items);
      } else if (field.type === "object") {
        const children = el("div", { className: "sb-children", "data-role": "children" },
          field.fields.map((c, i) => this.card(c, field, i, false)));
        const add = this.button("+ Add field", "add-field", "Add a field to this group", false, () => {
          field.fields.push(M.newField("string", this.freeName(field)));
          this.changed(true);
        });
        const extra = el("input", { type: "checkbox", "data-role": "additional", checked: field.additional !== false });
        extra.addEventListener("change", () => this.setAdditional(field, extra.checked));
        body.appendChild(children);
        body.appendChild(el("div", { className: "sb-object-foot" }, [
          add, el("label", { className: "sb-inline" }, [extra, document.createTextNode(" allow other fields")]),
        ]));
      }
      card.appendChild(body);
      card.appendChild(el("ul", { className: "errorlist sb-errors sb-card-errors", "data-role": "errors" }));
      return card;
    }

    button(text, role, title, disabled, onClick) {
      const button = el("button", { type: "button", className: "sb-btn", "data-role": role, title: title, "aria-label": title, disabled: disabled, text: text });
      button.addEventListener("click", onClick);
      return button;
    }

    checkbox(field, key, label) {
      const input = el("input", { type: "checkbox", "data-role": key, checked: !!field[key] });
      input.addEventListener("change", () => {
        field[key] = input.checked;
        this.changed(false);
      });
      return el("label", { className: "sb-inline" }, [input, document.createTextNode(" " + label)]);
    }

    textInput(field, key, placeholder, className) {
      const input = el("input", { type: "text", className: className, "data-role": key, placeholder: placeholder, value: field[key], "aria-label": placeholder });
      input.addEventListener("input", () => {
        field[key] = input.value;
        this.changed(false);
      });
      return input;
    }

    trackInput(key, bad, msg) {
      this.inputErrors = this.inputErrors.filter((e) => e.key !== key);
      if (bad) this.inputErrors.push({ key: key, path: key.split("#")[0], msg: msg });
    }

    inputKey(field, name) {
      return (field._card ? field._card.dataset.path || "" : "") + "#" + name;
    }

    numberInput(field, key, label, integer) {
      const input = el("input", { type: "number", step: integer ? "1" : "any", min: integer ? "0" : null, className: "sb-number", "data-role": key, value: field[key] === null ? "" : String(field[key]), "aria-label": label });
      input.addEventListener("input", () => {
        const value = numberOrNull(input.value, integer);
        this.trackInput(this.inputKey(field, key), Number.isNaN(value) || (value !== null && value < 0), label + " must be a whole number of 0 or more.");
        field[key] = Number.isNaN(value) ? null : value;
        this.changed(false);
      });
      return el("label", { className: "sb-inline" }, [document.createTextNode(label + " "), input]);
    }

    boundInput(field, key, label) {
      const integer = false;
      const input = el("input", { type: "number", step: "any", className: "sb-number", "data-role": key, value: field[key] === null ? "" : String(field[key]), "aria-label": label });
      input.addEventListener("input", () => {
        const value = numberOrNull(input.value, integer);
        this.trackInput(this.inputKey(field, key), Number.isNaN(value), label + " must be a number.");
        field[key] = Number.isNaN(value) ? null : value;
        this.changed(false);
      });
      const exclusive = el("input", { type: "checkbox", "data-role": key + "-exclusive", checked: field[key + "Exclusive"] });
      exclusive.addEventListener("change", () => {
        field[key + "Exclusive"] = exclusive.checked;
        this.changed(false);
      });
      return el("span", { className: "sb-bound" }, [
        el("label", { className: "sb-inline" }, [document.createTextNode(label + " "), input]),
        el("label", { className: "sb-inline sb-exclusive" }, [exclusive, document.createTextNode(" exclusive")]),
      ]);
    }

    enumInput(field) {
      const text = field.enum.map((v) => String(v)).join("\n");
      const input = el("textarea", { rows: String(enumRows(text)), className: "sb-enum", "data-role": "enum", placeholder: "allowed values, one per line (empty: any)", "aria-label": "Allowed values" });
      input.value = text;
      input.addEventListener("input", () => {
        input.rows = enumRows(input.value);
        const lines = input.value.split("\n").map((l) => l.trim()).filter((l) => l !== "");
        let bad = false;
        if (field.type === "string") {
          field.enum = lines;
        } else {
          const values = lines.map((l) => numberOrNull(l, field.type === "integer"));
          bad = values.some((v) => v === null || Number.isNaN(v));
          field.enum = values.filter((v) => v !== null && !Number.isNaN(v));
        }
        this.trackInput(this.inputKey(field, "enum"), bad, "Allowed values of a " + TYPE_LABELS[field.type].toLowerCase() + " field must be numbers" + (field.type === "integer" ? " without decimals." : "."));
        this.changed(false);
      });
      return el("label", { className: "sb-block" }, [document.createTextNode("allowed values"), input]);
    }
  }

  function init() {
    for (const host of document.querySelectorAll(".schema-builder:not([data-ready])")) {
      host.dataset.ready = "true";
      host.builder = new Builder(host);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
