#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=8 --max-old-space-size=1024 --single-threaded-gc
import '../dist/latchkey.js';
