#!/usr/bin/env -S node --max-semi-space-size=8 --max-old-space-size=1024 --single-threaded-gc
import '../dist/latchkey.js';
