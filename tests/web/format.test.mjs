// formatETA and the other pure helpers of the web UI.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  formatBytes, formatCount, formatDuration, formatName, localDate, newSessionId, outcomeLabel, phaseTimes,
} from '../../web/format.js';
import { formatETA, ProgressModal } from '../../web/progress-modal.js';

test('formatETA puts seconds in human terms', () => {
  const cases = [
    [0, '0s'],
    [1, '1s'],
    [45, '45s'],
    [59, '59s'],
    [60, '1m 0s'],
    [90, '1m 30s'],
    [3599, '59m 59s'],
    [3600, '1h 0m 0s'],
    [3665, '1h 1m 5s'],
    [90061, '25h 1m 1s'],
    [44.6, '45s'],
    [89.5, '1m 30s'],
  ];
  for (const [seconds, expected] of cases) {
    assert.equal(formatETA(seconds), expected, `${seconds} s`);
  }
});

test('formatETA is empty when the time left is unknown', () => {
  for (const unknown of [null, undefined, -1, Number.NaN, Number.POSITIVE_INFINITY, '45']) {
    assert.equal(formatETA(unknown), '', String(unknown));
  }
});

test('the modal exposes formatETA as the design names it', () => {
  assert.equal(ProgressModal.prototype.formatETA(90), '1m 30s');
});

test('durations and sizes', () => {
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(4210), '4.2 s');
  assert.equal(formatDuration(90_000), '1m 30s');
  assert.equal(formatDuration(null), '–');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(71_900_000), '71.9 MB');
});

test('outcomes have one name, the history\'s and the modal\'s', () => {
  assert.equal(outcomeLabel('completed'), 'Completed');
  assert.equal(outcomeLabel('interrupted'), 'Interrupted');
  assert.equal(outcomeLabel('someday'), 'someday');
  assert.equal(outcomeLabel(undefined), '–');
});

test('phase times: all of a completed import, the phases reached of one that ended early', () => {
  const timings = { parsing: 12, loading: 2400, processing: 0, finalizing: 0 };
  assert.deepEqual(phaseTimes(timings, 'completed'), ['Parsing 12 ms', 'Loading 2.4 s', 'Processing 0 ms', 'Finalizing 0 ms']);
  assert.deepEqual(phaseTimes(timings, 'cancelled'), ['Parsing 12 ms', 'Loading 2.4 s']);
  assert.deepEqual(phaseTimes({}, 'interrupted'), []);
});

test('the scan date defaults to the local calendar day', () => {
  assert.equal(localDate(new Date(2025, 0, 5, 23, 59)), '2025-01-05');
});

test('session ids are version 4 UUIDs, with or without crypto.randomUUID', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(newSessionId(), uuid);
  const insecureOrigin = { getRandomValues: (bytes) => globalThis.crypto.getRandomValues(bytes) };
  assert.match(newSessionId(insecureOrigin), uuid);
});

test('counts are written the reader\'s way; missing ones as a dash', () => {
  assert.equal(formatCount(1234567), (1234567).toLocaleString());
  assert.equal(formatCount(0), '0');
  assert.equal(formatCount(undefined), '–');
});

test('scanner formats have the names people use', () => {
  assert.equal(formatName('tenableIo'), 'Tenable.io');
  assert.equal(formatName('nessus'), 'Nessus');
  assert.equal(formatName('qualys'), 'Qualys');
  assert.equal(formatName('generic'), 'Generic CSV');
  assert.equal(formatName('somethingElse'), 'somethingElse');
  assert.equal(formatName(null), 'unknown format');
});
