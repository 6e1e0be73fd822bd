/* The schema builder's data model: cards <-> JSON Schema, with no DOM.
 *
 * A field is {name, type, nullable, description, required, enum, minimum, minimumExclusive,
 * maximum, maximumExclusive, minLength, maxLength, pattern, format, items, minItems, maxItems,
 * fields, additional, requiredOrder, keepEmptyRequired}. The root is an object field with
 * `extras` ($schema, title, description kept as they were).
 *
 * schemaToModel(schema) -> {model, problems}: problems lists what the cards cannot show
 * (the builder then stays in raw-JSON mode). For every schema with no problems,
 * modelToSchema(schemaToModel(schema).model) equals the schema.
 *
 * Loaded as a plain script in the admin (window.SchemaModel) and with require() in tests.
 */
(function (root, factory) {
  "use strict";
  const api = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = api;
  } else {
    root.SchemaModel = api;
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const TYPES = ["string", "number", "integer", "boolean", "array", "object"];
  const FORMATS = ["date", "date-time", "time", "email", "uri", "uuid", "ipv4", "ipv6"];
  const COMMON_KEYS = ["type", "description", "enum"];
  const TYPE_KEYS = {
    string: ["minLength", "maxLength", "pattern", "format"],
    number: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
    integer: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
    boolean: [],
    array: ["items", "minItems", "maxItems"],
    object: ["properties", "required", "additionalProperties"],
  };
  const ROOT_EXTRAS = ["$schema", "title", "description"];

  function newField(type, name) {
    return {
      name: name || "",
      type: type || "string",
      nullable: false,
      description: "",
      required: true,
      enum: [],
      minimum: null,
      minimumExclusive: false,
      maximum: null,
      maximumExclusive: false,
      minLength: null,
      maxLength: null,
      pattern: "",
      format: "",
      items: null,
      minItems: null,
      maxItems: null,
      fields: [],
      additional: false,
      requiredOrder: [],
      keepEmptyRequired: false,
    };
  }

  function newRoot() {
    const root = newField("object", "");
    root.extras = {};
    return root;
  }

  function pointer(parts) {
    return parts.map((p) => "/" + String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
  }

  function isPlainObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  function isNumber(v) {
    return typeof v === "number" && isFinite(v);
  }

  function isCount(v) {
    return Number.isInteger(v) && v >= 0;
  }

  // JSON Schema -> model ----------------------------------------------------------------

  function schemaToModel(schema) {
    const problems = [];
    if (!isPlainObject(schema)) {
      return { model: null, problems: ["the schema is not a JSON object"] };
    }
    if (schema.type !== "object") {
      return { model: null, problems: ["the root type is not 'object'"] };
    }
    const root = newRoot();
    for (const key of ROOT_EXTRAS) {
      if (key in schema) root.extras[key] = schema[key];
    }
    const body = {};
    for (const key of Object.keys(schema)) {
      if (!ROOT_EXTRAS.includes(key)) body[key] = schema[key];
    }
    readField(root, body, [], problems, true);
    if (!problems.length) {
      const back = modelToSchema(root);
      if (!deepEqual(back, schema)) {
        problems.push("the cards would not give back exactly this schema");
      }
    }
    return { model: problems.length ? null : root, problems: problems };
  }

  function readField(field, s, path, problems, isRoot) {
    const where = pointer(path) || "/";
    if (!isPlainObject(s)) {
      problems.push(where + " is not an object");
      return;
    }
    let type = s.type;
    if (Array.isArray(type)) {
      if (type.length === 2 && type.includes("null") && type[0] !== type[1]) {
        type = type[0] === "null" ? type[1] : type[0];
        field.nullable = true;
      } else {
        problems.push(where + " has a list of types the cards cannot show");
        return;
      }
    }
    if (!TYPES.includes(type)) {
      problems.push(where + (type === undefined ? " has no type" : " has type " + JSON.stringify(type)));
      return;
    }
    if (isRoot && field.nullable) {
      problems.push("the root cannot be null");
      return;
    }
    field.type = type;
    const allowed = COMMON_KEYS.concat(TYPE_KEYS[type]);
    for (const key of Object.keys(s)) {
      if (!allowed.includes(key)) problems.push(pointer(path.concat([key])) + " (" + key + ")");
    }
    if ("description" in s) {
      if (typeof s.description === "string") field.description = s.description;
      else problems.push(where + "/description is not text");
    }
    if ("enum" in s) {
      readEnum(field, s.enum, where, problems);
    }
    if (type === "string") {
      for (const key of ["minLength", "maxLength"]) {
        if (key in s) {
          if (isCount(s[key])) field[key] = s[key];
          else problems.push(where + "/" + key + " is not a whole number");
        }
      }
      if ("pattern" in s) {
        if (typeof s.pattern === "string" && s.pattern !== "") field.pattern = s.pattern;
        else problems.push(where + "/pattern cannot be shown");
      }
      if ("format" in s) {
        if (FORMATS.includes(s.format)) field.format = s.format;
        else problems.push(where + "/format " + JSON.stringify(s.format) + " is not one of the formats");
      }
    } else if (type === "number" || type === "integer") {
      readBound(field, s, "minimum", "exclusiveMinimum", where, problems);
      readBound(field, s, "maximum", "exclusiveMaximum", where, problems);
    } else if (type === "array") {
      for (const key of ["minItems", "maxItems"]) {
        if (key in s) {
          if (isCount(s[key])) field[key] = s[key];
          else problems.push(where + "/" + key + " is not a whole number");
        }
      }
      if ("items" in s) {
        const item = newField("string", "");
        item.required = false;
        readField(item, s.items, path.concat(["items"]), problems, false);
        field.items = item;
      } else {
        problems.push(where + " is an array without an item type");
      }
    } else if (type === "object") {
      readObject(field, s, path, problems);
    }
  }

  function readEnum(field, values, where, problems) {
    if (!Array.isArray(values) || !values.length) {
      problems.push(where + "/enum is not a list of values");
      return;
    }
    let list = values;
    if (field.nullable) {
      if (!list.includes(null)) {
        problems.push(where + "/enum of a nullable field lacks null");
        return;
      }
      list = list.filter((v) => v !== null);
      if (list.length !== values.length - 1) {
        problems.push(where + "/enum lists null twice");
        return;
      }
    }
    const ok = list.every((v) =>
      field.type === "string" ? typeof v === "string"
        : field.type === "integer" ? Number.isInteger(v)
          : field.type === "number" ? isNumber(v) : false);
    if (!ok) {
      problems.push(where + "/enum has values the cards cannot show for a " + field.type + " field");
      return;
    }
    field.enum = list.slice();
  }

  function readBound(field, s, inclusive, exclusive, where, problems) {
    const name = inclusive;
    if (inclusive in s && exclusive in s) {
      problems.push(where + " has both " + inclusive + " and " + exclusive);
      return;
    }
    const key = inclusive in s ? inclusive : exclusive in s ? exclusive : null;
    if (key === null) return;
    if (!isNumber(s[key])) {
      problems.push(where + "/" + key + " is not a number");
      return;
    }
    field[name] = s[key];
    field[name + "Exclusive"] = key === exclusive;
  }

  function readObject(field, s, path, problems) {
    const props = "properties" in s ? s.properties : {};
    if (!isPlainObject(props)) {
      problems.push(pointer(path.concat(["properties"])) + " is not an object");
      return;
    }
    const required = "required" in s ? s.required : [];
    if (!Array.isArray(required) || !required.every((n) => typeof n === "string")) {
      problems.push(pointer(path.concat(["required"])) + " is not a list of names");
      return;
    }
    for (const name of required) {
      if (!(name in props)) {
        problems.push(pointer(path.concat(["required"])) + " names '" + name + "', which is not a field");
      }
    }
    if (new Set(required).size !== required.length) {
      problems.push(pointer(path.concat(["required"])) + " lists a name twice");
    }
    field.requiredOrder = required.slice();
    field.keepEmptyRequired = Array.isArray(s.required) && s.required.length === 0;
    field.fields = [];
    for (const name of Object.keys(props)) {
      const child = newField("string", name);
      child.required = required.includes(name);
      readField(child, props[name], path.concat(["properties", name]), problems, false);
      field.fields.push(child);
    }
    if ("additionalProperties" in s) {
      if (typeof s.additionalProperties === "boolean") field.additional = s.additionalProperties;
      else problems.push(pointer(path.concat(["additionalProperties"])) + " is a schema");
    } else {
      field.additional = null;
      field.additionalAbsent = true;
    }
    if (!("properties" in s)) field.noProperties = true;
  }

  // model -> JSON Schema ----------------------------------------------------------------

  function modelToSchema(root) {
    const out = {};
    const extras = root.extras || {};
    if ("$schema" in extras) out.$schema = extras.$schema;
    if ("title" in extras) out.title = extras.title;
    if ("description" in extras) out.description = extras.description;
    return Object.assign(out, fieldSchema(root));
  }

  function fieldSchema(f) {
    const s = {};
    s.type = f.nullable ? [f.type, "null"] : f.type;
    if (f.description) s.description = f.description;
    if ((f.type === "string" || f.type === "number" || f.type === "integer") && f.enum.length) {
      s.enum = f.nullable ? f.enum.concat([null]) : f.enum.slice();
    }
    if (f.type === "string") {
      if (f.minLength !== null) s.minLength = f.minLength;
      if (f.maxLength !== null) s.maxLength = f.maxLength;
      if (f.pattern) s.pattern = f.pattern;
      if (f.format) s.format = f.format;
    } else if (f.type === "number" || f.type === "integer") {
      if (f.minimum !== null) s[f.minimumExclusive ? "exclusiveMinimum" : "minimum"] = f.minimum;
      if (f.maximum !== null) s[f.maximumExclusive ? "exclusiveMaximum" : "maximum"] = f.maximum;
    } else if (f.type === "array") {
      s.items = fieldSchema(f.items || itemFor(f));
      if (f.minItems !== null) s.minItems = f.minItems;
      if (f.maxItems !== null) s.maxItems = f.maxItems;
    } else if (f.type === "object") {
      if (f.fields.length || !f.noProperties) {
        s.properties = {};
        for (const child of f.fields) s.properties[child.name] = fieldSchema(child);
      }
      const names = f.fields.filter((c) => c.required).map((c) => c.name);
      const ordered = (f.requiredOrder || []).filter((n) => names.includes(n));
      for (const n of names) if (!ordered.includes(n)) ordered.push(n);
      if (ordered.length || f.keepEmptyRequired) s.required = ordered;
      if (f.additional !== null && f.additional !== undefined) s.additionalProperties = f.additional;
    }
    return s;
  }

  function itemFor(field) {
    if (!field.items) {
      field.items = newField("string", "");
      field.items.required = false;
    }
    return field.items;
  }

  // Checks the cards can make before the server sees the schema (a JSON object cannot
  // hold two fields of one name, so the server could never report it).
  function clientErrors(root) {
    const errors = [];
    (function walk(f, path) {
      if (f.type === "object") {
        const seen = new Set();
        f.fields.forEach((child) => {
          const childPath = path.concat(["properties", child.name]);
          if (seen.has(child.name)) {
            errors.push({ path: pointer(childPath), msg: "Two fields are named '" + child.name + "'; rename one." });
          }
          seen.add(child.name);
          walk(child, childPath);
        });
      } else if (f.type === "array") {
        walk(itemFor(f), path.concat(["items"]));
      }
    })(root, []);
    return errors;
  }

  function deepEqual(a, b) {
    if (a === b) return true;
    if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    if (Array.isArray(a)) {
      return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
    }
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }

  return {
    TYPES: TYPES,
    FORMATS: FORMATS,
    newField: newField,
    newRoot: newRoot,
    itemFor: itemFor,
    pointer: pointer,
    schemaToModel: schemaToModel,
    modelToSchema: modelToSchema,
    clientErrors: clientErrors,
    deepEqual: deepEqual,
  };
});
