'use strict';
// Peer user service for the Mitos benchmark: the "guide's user service done
// competently". One Node process (no cluster), express, better-sqlite3 with
// prepared statements, WAL journal, synchronous=NORMAL. It answers the
// benchmarked routes as Mitos's users module does: same status codes, same
// validation rules, same problem details (RFC 9457), same JSON bodies.
// Logs nothing per request.
//
// Env: PORT (default 8081), HOST (default 127.0.0.1), DB_PATH (default ./peer.db)

const express = require('express');
const Database = require('better-sqlite3');

const PORT = Number.parseInt(process.env.PORT || '8081', 10);
const HOST = process.env.HOST || '127.0.0.1';
const DB_PATH = process.env.DB_PATH || './peer.db';
const INT64_MAX = 9223372036854775807n;

const db = new Database(DB_PATH);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');
db.exec(`
  CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  )
`);

const insertUser = db.prepare(
  'INSERT INTO users (name, email, created_at, updated_at) VALUES (?, ?, ?, ?)'
);
const selectUser = db.prepare(
  'SELECT id, name, email, created_at, updated_at FROM users WHERE id = ?'
);

let ready = false;

// --- Responses --------------------------------------------------------------

function sendJson(res, status, obj) {
  res.status(status).type('application/json').send(JSON.stringify(obj));
}

// Problem details, keys in the order Mitos writes them.
function problem(res, status, type, title, detail, errors) {
  const p = errors && errors.length ? { detail, errors, status, title, type } : { detail, status, title, type };
  res.status(status).type('application/problem+json').send(JSON.stringify(p));
}

function userJson(u) {
  return {
    created_at: u.created_at, email: u.email, id: u.id, name: u.name, updated_at: u.updated_at,
  };
}

// --- Validation (the rules of Mitos's users module) -------------------------

function codePoints(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

function trimAscii(s) {
  return s.replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, '');
}

function checkName(trimmed) {
  const n = codePoints(trimmed);
  if (n < 1 || n > 100) return 'must be 1 to 100 characters after trimming';
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return 'must not contain control characters';
  }
  return '';
}

const LOCAL_FORBIDDEN = '(),:;<>@[\\]"';
function isLocalChar(c) {
  if (c >= 0x80) return true;
  if (c <= 0x20 || c === 0x7f) return false;
  return !LOCAL_FORBIDDEN.includes(String.fromCharCode(c));
}
function isLabelChar(c) {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) || c === 0x2d || c >= 0x80;
}

function checkEmail(email) {
  if (email.length === 0) return 'must not be empty';
  if (codePoints(email) > 254) return 'must be at most 254 characters';
  const at = email.indexOf('@');
  if (at < 0 || email.indexOf('@', at + 1) >= 0) return "must contain exactly one '@'";
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local.length === 0 || codePoints(local) > 64) return "must have 1 to 64 characters before '@'";
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    return "must not have leading, trailing or double dots before '@'";
  }
  for (let i = 0; i < local.length; i++) {
    if (!isLocalChar(local.charCodeAt(i))) return "has a character not allowed before '@'";
  }
  if (!domain.includes('.')) return "must have a domain with a dot after '@'";
  for (const label of domain.split('.')) {
    if (label.length === 0 || Buffer.byteLength(label) > 63) return 'has an empty or over-long domain label';
    if (label.startsWith('-') || label.endsWith('-')) return "has a domain label starting or ending with '-'";
    for (let i = 0; i < label.length; i++) {
      if (!isLabelChar(label.charCodeAt(i))) return 'has a character not allowed in the domain';
    }
  }
  return '';
}

// Structural errors first (unknown, missing, mistyped fields), then the rule
// errors of the fields that could be read, so the client sees every problem.
function validateNewUser(body) {
  const errors = [];
  for (const key of Object.keys(body).sort()) {
    if (key !== 'name' && key !== 'email') errors.push({ field: key, message: 'unknown field' });
  }
  const read = {};
  for (const field of ['name', 'email']) {
    if (!Object.prototype.hasOwnProperty.call(body, field)) {
      errors.push({ field, message: 'is required' });
    } else if (typeof body[field] !== 'string') {
      errors.push({ field, message: 'must be a string' });
    } else {
      read[field] = body[field];
    }
  }
  const structural = errors.length > 0;
  if (read.name !== undefined) {
    const e = checkName(trimAscii(read.name));
    if (e) errors.push({ field: 'name', message: e });
  }
  if (read.email !== undefined) {
    const e = checkEmail(read.email);
    if (e) errors.push({ field: 'email', message: e });
  }
  return { errors, structural };
}

// Mitos's ParsePositiveId: 1..19 digits, no leading zero, fits in int64.
function parsePositiveId(raw) {
  if (!/^[1-9][0-9]{0,18}$/.test(raw)) return null;
  if (raw.length < 16) return Number(raw);
  const big = BigInt(raw);
  return big <= INT64_MAX ? big : null;
}

// --- Routes -----------------------------------------------------------------

const app = express();
app.disable('x-powered-by');
app.disable('etag');

function methodNotAllowed(allow) {
  return (req, res) => {
    res.set('Allow', allow);
    problem(res, 405, 'about:blank', 'Method Not Allowed',
      `${req.method} is not supported here; use ${allow}.`);
  };
}

app.get('/livez', (req, res) => {
  res.set('Cache-Control', 'no-store');
  sendJson(res, 200, { status: 'alive' });
});

app.get('/readyz', (req, res) => {
  res.set('Cache-Control', 'no-store');
  if (!ready) {
    return sendJson(res, 503, { modules: { users: 'starting' }, status: 'not ready' });
  }
  sendJson(res, 200, { modules: { users: 'ready' }, status: 'ready' });
});

function requireJson(req, res, next) {
  const ct = req.headers['content-type'] || '';
  const media = ct.split(';', 1)[0].trimEnd().toLowerCase();
  if (media !== 'application/json') {
    res.set('Accept-Post', 'application/json');
    return problem(res, 415, 'about:blank', 'Unsupported Media Type',
      'The request body must be application/json.');
  }
  next();
}

app.post('/users', requireJson, express.json({ limit: '1mb', strict: false }), (req, res) => {
  const body = req.body;
  if (body === undefined) {
    return problem(res, 400, 'urn:mitos:problem:malformed-json', 'Malformed JSON',
      'The request body is not valid JSON.');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return problem(res, 400, 'urn:mitos:problem:malformed-json', 'Malformed JSON',
      'The request body must be a JSON object.');
  }
  const { errors } = validateNewUser(body);
  if (errors.length) {
    return problem(res, 422, 'urn:mitos:problem:validation-failed', 'Validation failed',
      'The user has invalid fields.', errors);
  }
  const name = trimAscii(body.name);
  const email = body.email;
  const now = new Date().toISOString();
  let info;
  try {
    info = insertUser.run(name, email, now, now);
  } catch (e) {
    if (e && e.code === 'SQLITE_CONSTRAINT_UNIQUE') {
      return problem(res, 409, 'urn:mitos:problem:already-exists', 'Already exists',
        'A user with this email already exists.',
        [{ field: 'email', message: 'is already used by another user' }]);
    }
    throw e;
  }
  const id = Number(info.lastInsertRowid);
  res.set('Location', `/users/${id}`);
  sendJson(res, 201, userJson({ id, name, email, created_at: now, updated_at: now }));
});

app.get('/users/:id', (req, res) => {
  const raw = req.params.id;
  const id = parsePositiveId(raw);
  const row = id === null ? undefined : selectUser.get(id);
  if (!row) {
    return problem(res, 404, 'about:blank', 'Not Found', `User ${raw} does not exist.`);
  }
  sendJson(res, 200, userJson(row));
});

app.all('/livez', methodNotAllowed('GET, HEAD'));
app.all('/readyz', methodNotAllowed('GET, HEAD'));
app.all('/users', methodNotAllowed('POST'));
app.all('/users/:id', methodNotAllowed('GET, HEAD'));

app.use((req, res) => {
  problem(res, 404, 'about:blank', 'Not Found', `No resource at ${req.path}.`);
});

// Body-parser errors and anything unexpected: problem details, never HTML.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  if (err && err.type === 'entity.parse.failed') {
    return problem(res, 400, 'urn:mitos:problem:malformed-json', 'Malformed JSON',
      'The request body is not valid JSON.');
  }
  if (err && err.type === 'entity.too.large') {
    return problem(res, 413, 'about:blank', 'Content Too Large', 'The request body is too large.');
  }
  problem(res, 500, 'about:blank', 'Internal Server Error', 'The server failed to handle the request.');
});

const server = app.listen(PORT, HOST, () => {
  ready = true;
});
server.keepAliveTimeout = 5000;

function shutdown() {
  ready = false;
  server.close(() => {
    db.close();
    process.exit(0);
  });
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
