// Ceiling 1: the cheapest possible Fastify 5 route. Every Latchkey endpoint is compared to it.
import Fastify from 'fastify';
import { listenFromEnv } from './listen-from-env.js';

const app = Fastify({ logger: false });

app.get('/', async () => ({ hello: 'world' }));

await listenFromEnv(app);
