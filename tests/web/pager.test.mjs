// The pager's arithmetic: how many pages, a typed page number clamped to them, the range shown.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { clampPage, pageCount, rangeText } from '../../web/pager.js';

test('pageCount counts partial pages, and one page when empty', () => {
  assert.equal(pageCount(0, 25), 1);
  assert.equal(pageCount(25, 25), 1);
  assert.equal(pageCount(26, 25), 2);
  assert.equal(pageCount(2_265_271, 50), 45_306);
});

test('clampPage keeps a page number within the pages there are', () => {
  assert.equal(clampPage(7, 10), 7);
  assert.equal(clampPage(0, 10), 1);
  assert.equal(clampPage(-3, 10), 1);
  assert.equal(clampPage(999_999, 10), 10);
  assert.equal(clampPage(2.6, 10), 3);
  assert.equal(clampPage(Number.NaN, 10), null);
});

test('rangeText names the rows shown and the total', () => {
  assert.equal(rangeText({ page: 1, perPage: 50, total: 2_265_271 }, 'findings'), '1–50 of 2,265,271 findings');
  assert.equal(rangeText({ page: 45_306, perPage: 50, total: 2_265_271 }, 'findings'), '2,265,251–2,265,271 of 2,265,271 findings');
  assert.equal(rangeText({ page: 1, perPage: 10, total: 0 }, 'imports'), 'No imports');
});
