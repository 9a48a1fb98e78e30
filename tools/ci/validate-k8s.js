#!/usr/bin/env node
// Schema check of Kubernetes manifests, for CI machines without kubeconform
// (not in Debian) or a cluster: every document is validated against the
// Kubernetes 1.27 OpenAPI schemas that the npm package kubernetes-models
// bundles (as compiled ajv validators), and, like `kubeconform -strict`,
// fields the schema does not know are errors too: the schemas allow unknown
// fields, so a typo such as `readinessProbe.httpGet.pth` would pass them.
// Unknown fields are found by watching which keys the validator reads.
//
// usage: node tools/ci/validate-k8s.js FILE.yaml...   (exit 0 = all valid)
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

// The package's "exports" hide its schema files; load them by path.
const modelsDir = path.join(__dirname, "node_modules", "kubernetes-models");
const modelsVersion = JSON.parse(fs.readFileSync(path.join(modelsDir, "package.json"), "utf8")).version;

// apiVersion "apps/v1" -> "kubernetes-models/apps/v1/Deployment";
// core "v1" -> "kubernetes-models/v1/Secret".
function validatorFor(apiVersion, kind) {
  let mod;
  try {
    mod = require(`kubernetes-models/${apiVersion}/${kind}`);
  } catch (e) {
    return null;
  }
  const schemaName = Object.keys(mod).find((k) => k.startsWith("IoK8s"));
  if (!schemaName) return null;
  return require(path.join(modelsDir, "_schemas", `${schemaName}.js`)).validate;
}

// A copy of value in which every object records the keys read from it, and
// whether it was enumerated (a map such as labels: then all keys are fine).
function tracked(value, where, records) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v, i) => tracked(v, `${where}[${i}]`, records));
  const rec = { where, keys: Object.keys(value), read: new Set(), enumerated: false };
  records.push(rec);
  const copy = {};
  for (const [k, v] of Object.entries(value)) copy[k] = tracked(v, where ? `${where}.${k}` : k, records);
  return new Proxy(copy, {
    get(t, k, r) {
      if (typeof k === "string") rec.read.add(k);
      return Reflect.get(t, k, r);
    },
    has(t, k) {
      if (typeof k === "string") rec.read.add(k);
      return Reflect.has(t, k);
    },
    ownKeys(t) {
      rec.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

let failures = 0;
let checked = 0;
function fail(file, doc, msg) {
  failures++;
  console.error(`${file}: ${doc}: ${msg}`);
}

for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  // Kubernetes reads YAML 1.1 (0440 is octal there); so do we.
  const docs = YAML.parseAllDocuments(text, { version: "1.1" });
  docs.forEach((d, i) => {
    if (d.errors.length) return fail(file, `document ${i + 1}`, d.errors.map((e) => e.message).join("; "));
    const obj = d.toJS();
    if (obj === null || obj === undefined) return;
    const name = `${obj.kind || "?"}/${(obj.metadata && obj.metadata.name) || "?"}`;
    if (!obj.apiVersion || !obj.kind) return fail(file, name, "apiVersion and kind are required");
    const validate = validatorFor(obj.apiVersion, obj.kind);
    if (!validate) return fail(file, name, `unknown apiVersion/kind ${obj.apiVersion} ${obj.kind} (Kubernetes 1.27)`);
    const records = [];
    const ok = validate(tracked(obj, "", records));
    checked++;
    if (!ok)
      for (const e of validate.errors || [])
        fail(file, name, `${e.instancePath || "/"}: ${e.message || "fails " + e.keyword}${e.params ? " " + JSON.stringify(e.params) : ""}`);
    for (const rec of records) {
      // Objects the validator never looked into are free-form (or below an
      // unknown key, already reported); skip them.
      if (rec.enumerated || rec.read.size === 0) continue;
      for (const k of rec.keys)
        if (!rec.read.has(k)) fail(file, name, `unknown field ${rec.where ? rec.where + "." : ""}${k}`);
    }
  });
}

if (checked === 0 && failures === 0) {
  console.error("validate-k8s: no Kubernetes documents given");
  process.exit(2);
}
console.log(`validate-k8s: ${checked} document(s), ${failures} problem(s) (kubernetes-models ${modelsVersion} schemas)`);
process.exit(failures ? 1 : 0);
