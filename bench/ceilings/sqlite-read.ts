// Ceiling 2: bare Fastify plus one primary-key read from better-sqlite3 (prepared statement, WAL).
// The gap between this and Latchkey's metadata GET is what auth, tenancy, validation,
// serialisation and the store layer cost on top of the database read itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { listenFromEnv } from './listen-from-env.js';

const ROW_COUNT = 10_000;

interface ItemRow {
  id: number;
  name: string;
  kind: string;
  config: string;
  created_at: string;
}

const dir = process.env.BENCH_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'bench-sqlite-read-'));
const ownsDir = process.env.BENCH_DATA_DIR === undefined;
const db = new Database(join(dir, 'ceiling.sqlite'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`CREATE TABLE IF NOT EXISTS items (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  config TEXT NOT NULL,
  created_at TEXT NOT NULL
)`);

const insert = db.prepare('INSERT OR REPLACE INTO items (id, name, kind, config, created_at) VALUES (?, ?, ?, ?, ?)');
const fill = db.transaction((count: number) => {
  for (let id = 1; id <= count; id += 1) {
    const config = JSON.stringify({ host: 'smtp.example.com', port: 25, username: `user${id}`, auth_type: 'login' });
    insert.run(id, `credential ${id}`, 'smtp', config, new Date(1_700_000_000_000 + id * 1000).toISOString());
  }
});
fill(ROW_COUNT);

const selectById = db.prepare<[number], ItemRow>('SELECT id, name, kind, config, created_at FROM items WHERE id = ?');

const app = Fastify({ logger: false });

app.get<{ Params: { id: string } }>('/rows/:id', async (request, reply) => {
  const row = selectById.get(Number(request.params.id));
  if (row === undefined) {
    return reply.code(404).send({ error: 'not found' });
  }
  return { id: row.id, name: row.name, kind: row.kind, config: JSON.parse(row.config) as unknown, created_at: row.created_at };
});

await listenFromEnv(app, () => {
  db.close();
  if (ownsDir) rmSync(dir, { recursive: true, force: true });
});
