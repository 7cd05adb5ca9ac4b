// The trends' data for uPlot: which imports make the open-findings line (regular ones, the last of
// each scan date) and the bars (every import, in order).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { changeBarsData, daySeconds, importLabel, openLine, openLineData } from '../../web/trends.js';

/** A trend point as `GET /api/trends` answers it; `open` is its critical count, the rest 0. */
function point(scanDate, open, { backfill = false, added = 0, resolved = 0, reopened = 0 } = {}) {
  return {
    sessionId: `${scanDate}-${open}`,
    fileName: `${scanDate}.csv`,
    scanDate,
    backfill,
    openBySeverity: { critical: open, high: 0, medium: 0, low: 0, info: 0 },
    new: added,
    resolved,
    reopened,
  };
}

const HISTORY = [
  point('2026-01-05', 3, { added: 3 }),
  point('2026-01-12', 2, { resolved: 1 }),
  point('2026-01-01', 4, { backfill: true, added: 2 }),
  point('2026-01-12', 5, { added: 3 }),
  point('2026-01-19', 1, { resolved: 4, reopened: 1 }),
];

test('the line leaves backfills out and keeps the last import of a scan date', () => {
  assert.deepEqual(openLine(HISTORY).map((p) => [p.scanDate, p.openBySeverity.critical]), [
    ['2026-01-05', 3],
    ['2026-01-12', 5],
    ['2026-01-19', 1],
  ]);
  const [dates, critical, high] = openLineData(HISTORY);
  assert.deepEqual(dates, ['2026-01-05', '2026-01-12', '2026-01-19'].map(daySeconds));
  assert.deepEqual(critical, [3, 5, 1]);
  assert.deepEqual(high, [0, 0, 0]);
  assert.deepEqual(openLine([point('2026-01-01', 4, { backfill: true })]), [], 'backfills alone make no line');
});

test('the bars have every import, in order, backfills included', () => {
  assert.deepEqual(changeBarsData(HISTORY), [
    [0, 1, 2, 3, 4],
    [3, 0, 2, 3, 0],
    [0, 1, 0, 0, 4],
    [0, 0, 0, 0, 1],
  ]);
  assert.equal(importLabel(HISTORY[2]), '2026-01-01 (backfill)');
  assert.equal(importLabel(HISTORY[0]), '2026-01-05');
  assert.equal(importLabel(undefined), '–');
});

test('scan dates are days in UTC', () => {
  assert.equal(daySeconds('2026-01-05'), Date.UTC(2026, 0, 5) / 1000);
});
