// Ceiling 3: the naive audited reveal the benchmark issue measured Latchkey against: bare
// Fastify, one primary-key read, an AES-256-GCM decrypt and one audit INSERT per request, in
// its own commit. No auth, no tenancy, no hash chain, no group commit. Two copies of it, on two
// files: `durable` commits with synchronous=FULL (the audit record survives power loss, as a
// Latchkey reveal's does), `unsynced` with NORMAL (it may not: the cheapest the route can be).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { listenFromEnv } from './listen-from-env.js';

const ROW_COUNT = 10_000;

interface SecretRow {
  id: number;
  name: string;
  iv: Buffer;
  tag: Buffer;
  secret: Buffer;
}

const dir = process.env.BENCH_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'bench-naive-reveal-'));
const ownsDir = process.env.BENCH_DATA_DIR === undefined;
const key = randomBytes(32);

function openVault(file: string, synchronous: 'FULL' | 'NORMAL') {
  const db = new Database(join(dir, file));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.exec('CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, iv BLOB NOT NULL, tag BLOB NOT NULL, secret BLOB NOT NULL)');
  db.exec('CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, action TEXT NOT NULL, at TEXT NOT NULL)');
  const insert = db.prepare('INSERT OR REPLACE INTO items (id, name, iv, tag, secret) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let id = 1; id <= ROW_COUNT; id += 1) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const secret = Buffer.concat([cipher.update(JSON.stringify({ password: `pw-${id}-${iv.toString('hex')}` })), cipher.final()]);
      insert.run(id, `credential ${id}`, iv, cipher.getAuthTag(), secret);
    }
  })();
  return {
    db,
    select: db.prepare<[number], SecretRow>('SELECT id, name, iv, tag, secret FROM items WHERE id = ?'),
    audit: db.prepare('INSERT INTO audit (item_id, action, at) VALUES (?, ?, ?)'),
  };
}

const vaults = { durable: openVault('durable.sqlite', 'FULL'), unsynced: openVault('unsynced.sqlite', 'NORMAL') };

const app = Fastify({ logger: false });

for (const [mode, vault] of Object.entries(vaults)) {
  app.get<{ Params: { id: string } }>(`/${mode}/:id/secret`, async (request, reply) => {
    const row = vault.select.get(Number(request.params.id));
    if (row === undefined) {
      return reply.code(404).send({ error: 'not found' });
    }
    const decipher = createDecipheriv('aes-256-gcm', key, row.iv);
    decipher.setAuthTag(row.tag);
    const secret = JSON.parse(Buffer.concat([decipher.update(row.secret), decipher.final()]).toString('utf8')) as unknown;
    vault.audit.run(row.id, 'credential.reveal', new Date().toISOString());
    return { id: row.id, name: row.name, secret };
  });
}

await listenFromEnv(app, () => {
  for (const vault of Object.values(vaults)) vault.db.close();
  if (ownsDir) rmSync(dir, { recursive: true, force: true });
});
