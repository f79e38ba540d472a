import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthFailureThrottle } from '../../src/services/auth/failure-throttle.js';

// Window arithmetic with the clock passed in: the HTTP test (access-keys) checks the hold itself
// with a window too long to end mid-test, so rollover is only checkable here without timing.
describe('failed authentications are counted per source and window', () => {
  it('holds the 11th failure of a window, and counts afresh once the window has passed', () => {
    const throttle = new AuthFailureThrottle(250, 1000);
    const holds = Array.from({ length: 11 }, (_, i) => throttle.failed('10.0.0.1', 5_000 + i).holdMs);
    assert.deepEqual(holds, [...Array(10).fill(0), 250]);
    assert.deepEqual(throttle.failed('10.0.0.1', 5_999), { first: false, holdMs: 250 });
    assert.deepEqual(throttle.failed('10.0.0.1', 6_000), { first: true, holdMs: 0 }, 'a new window opens 1000 ms after the first failure');
  });

  it('keeps sources apart, never holds with a delay of 0, and honours a longer window', () => {
    const throttle = new AuthFailureThrottle(250, 60_000);
    for (let i = 0; i < 10; i++) throttle.failed('a', i);
    assert.equal(throttle.failed('b', 10).holdMs, 0, 'another source has its own count');
    assert.equal(throttle.failed('a', 59_999).holdMs, 250, 'still the same 60 s window');
    const never = new AuthFailureThrottle(0, 1000);
    for (let i = 0; i < 50; i++) assert.equal(never.failed('a', i).holdMs, 0);
  });
});
