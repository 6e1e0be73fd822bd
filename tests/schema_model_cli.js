// Line-oriented bridge to static/schema_builder/model.js for the Python tests:
// each input line is {"op": "toSchema", "model": ...} or {"op": "toModel", "schema": ...}.
"use strict";
const path = require("path");
const readline = require("readline");
const M = require(path.join(__dirname, "..", "static", "schema_builder", "model.js"));

function fill(field, isRoot) {
  const full = Object.assign(M.newField(field.type, field.name), field);
  if (isRoot) full.extras = field.extras || {};
  if (full.items) full.items = fill(full.items, false);
  full.fields = (full.fields || []).map((f) => fill(f, false));
  return full;
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const request = JSON.parse(line);
  let reply;
  if (request.op === "toSchema") {
    reply = { schema: M.modelToSchema(fill(request.model, true)) };
  } else {
    const result = M.schemaToModel(request.schema);
    reply = { problems: result.problems, back: result.model ? M.modelToSchema(result.model) : null };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
});
