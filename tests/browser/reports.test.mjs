// What changed, in hand: an import's counts lead to exactly the findings they count, its report
// downloads (HTML and CSV) with counts equal to the API's, the detail view's lists are searchable,
// the findings list downloads as CSV with formula cells neutralised, and the tab's title and a
// notification tell of an import while the page is hidden.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  closeModal, getJson, launchBrowser, openUi, startImport, waitForClose, waitForModal, SHORT,
} from '../support/browser.mjs';
import { generateExport, importAndWait, startServer, Watcher, writeFile } from '../support/server.mjs';

const CHANGES = { new: 'added', reopened: 'reopened', resolved: 'resolved' };

/** A CSV text as rows of cells (quoted cells may hold commas, quotes and line breaks). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (c === '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else {
      cell += c;
    }
  }
  if (cell || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  const [header, ...body] = rows;
  return body.map((cells) => Object.fromEntries(header.map((name, i) => [name, cells[i]])));
}

/** Clicks a link that downloads; resolves with the file's text and suggested name. */
async function download(page, selector) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: SHORT }), page.click(selector)]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

/** The numbers in the cells of the HTML report's impact table's footer: new, reopened, resolved. */
function impactTotals(html) {
  const footer = html.match(/<tfoot>(.*?)<\/tfoot>/s)[1];
  return [...footer.matchAll(/<th class="num">([\d,]+)<\/th>/g)].map((m) => Number(m[1].replaceAll(',', '')));
}

/** The row count under each "Every change" heading of the HTML report. */
function changeSections(html) {
  const sections = {};
  for (const match of html.matchAll(/<h3 id="(\w+)">\w+ \(([\d,]+)\)<\/h3>\n<table class="changes">.*?<tbody>\n(.*?)<\/tbody>/gs)) {
    sections[match[1]] = { heading: Number(match[2].replaceAll(',', '')), rows: (match[3].match(/<tr>/g) ?? []).length };
  }
  return sections;
}

test('counts lead to their findings, reports and exports download, the tab tells of the end', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const watcher = await Watcher.connect(server.url);
  t.after(() => watcher.close());
  // Two scans a week apart: the second resolves what the first had and it lacks.
  const first = generateExport(server.dir, 1_500, 1);
  const second = generateExport(server.dir, 1_500, 2);
  for (const [file, scanDate] of [[first, '2026-01-05'], [second, '2026-01-12']]) {
    const { end } = await importAndWait(server, watcher, file, { scanDate });
    assert.equal(end.payload.type, 'complete', JSON.stringify(end));
  }

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { context, page, errors } = await openUi(browser, server);
  await context.grantPermissions(['notifications'], { origin: server.url });
  // What the page's notifications and titles are, recorded as they happen.
  await page.evaluate(() => {
    window.shownNotifications = [];
    const Real = window.Notification;
    window.Notification = class extends Real {
      constructor(title, options) {
        super(title, options);
        window.shownNotifications.push({ title, body: options?.body });
      }
    };
    window.titles = [];
    new MutationObserver(() => window.titles.push(document.title))
      .observe(document.querySelector('title'), { childList: true, characterData: true, subtree: true });
  });

  // The first scan again a week later, with a few more hosts, through the page: what the second
  // resolved reopens, what only the second had is resolved, the new hosts' findings are new. The
  // page is hidden meanwhile.
  const more = readFileSync(generateExport(server.dir, 200, 3), 'utf8');
  const third = writeFile(server.dir, 'week-3.csv', readFileSync(first, 'utf8') + more.slice(more.indexOf('\n') + 1));
  await page.fill('#scan-date', '2026-01-19');
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await startImport(page, third);
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  await waitForClose(page);
  const [latest] = (await getJson(server, '/api/imports?perPage=1')).items;
  const counts = latest.counts;
  assert.ok(counts.new > 0 && counts.reopened > 0 && counts.resolved > 0, JSON.stringify(counts));

  // The tab's title followed the progress, then named the end; the notification told of it.
  const titles = await page.evaluate(() => window.titles);
  const fileName = 'week-3.csv';
  assert.ok(titles.some((title) => new RegExp(`^\\d+% · ${fileName}$`).test(title)), titles.join(' | '));
  assert.equal(titles.at(-1), `Completed · ${fileName}`, titles.join(' | '));
  const notifications = await page.evaluate(() => window.shownNotifications);
  assert.equal(notifications.length, 1, JSON.stringify(notifications));
  assert.equal(notifications[0].title, 'Import completed');
  assert.match(notifications[0].body, new RegExp(`${fileName}: completed\\. .*reopened`));
  // Seen again, the page gets its own title back.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  assert.equal(await page.title(), 'vulnimport');

  // The report, from the summary: its counts are the record's and the change lists'.
  const html = await download(page, '#progress-modal [data-report=html]');
  assert.match(html.name, /^vulnimport-import-2026-01-19-[0-9a-f]{8}\.html$/);
  assert.match(html.text, /^<!doctype html>/);
  assert.deepEqual(impactTotals(html.text), [counts.new, counts.reopened, counts.resolved]);
  const sections = changeSections(html.text);
  for (const [key, id] of [['new', 'new'], ['reopened', 'reopened'], ['resolved', 'resolved']]) {
    assert.deepEqual(sections[id], { heading: counts[key], rows: counts[key] }, key);
  }
  for (const [key, change] of Object.entries(CHANGES)) {
    const listed = await getJson(server, `/api/imports/${latest.sessionId}/findings?change=${change}&perPage=1`);
    assert.equal(listed.total, counts[key], key);
  }
  const csv = await download(page, '#progress-modal [data-report=csv]');
  const changes = parseCsv(csv.text);
  assert.deepEqual(
    Object.keys(CHANGES).map((key) => changes.filter((row) => row.change === key).length),
    [counts.new, counts.reopened, counts.resolved],
  );

  // A count in the summary opens exactly those findings.
  await page.click('#progress-modal [data-count=reopened] a');
  await page.waitForSelector('#progress-modal', { state: 'hidden', timeout: SHORT });
  await page.waitForFunction(() => !document.getElementById('findings-changes').hidden, null, { timeout: SHORT });
  assert.match(page.url(), new RegExp(`\\?import=${latest.sessionId}&change=reopened#findings$`));
  const expected = await getJson(server, `/api/imports/${latest.sessionId}/findings?change=reopened&perPage=25`);
  await page.waitForFunction(
    (total) => document.querySelector('[data-pager=findings] [data-part=range]').textContent.includes(`of ${total.toLocaleString('en-US')}`),
    expected.total,
    { timeout: SHORT },
  );
  const shownRows = await page.$$eval('#findings-table tbody tr', (rows) => rows.map((row) => row.textContent));
  assert.equal(shownRows.length, expected.items.length);
  expected.items.forEach((finding, i) => assert.ok(shownRows[i].includes(finding.title), `${i}: ${shownRows[i]}`));
  assert.match(await page.textContent('#findings-changes'), new RegExp(`Reopened in ${fileName}`));
  // The page's address keeps the filter: a reload shows the same list.
  await page.reload();
  await page.waitForFunction(() => !document.getElementById('findings-changes').hidden, null, { timeout: SHORT });
  await page.waitForFunction(
    (total) => document.querySelector('[data-pager=findings] [data-part=range]').textContent.includes(`of ${total.toLocaleString('en-US')}`),
    expected.total,
    { timeout: SHORT },
  );
  // The list downloads as filtered: the reopened findings, critical only.
  await page.selectOption('#findings-severity', 'critical');
  const critical = await getJson(server, `/api/vulnerabilities?import=${latest.sessionId}&change=reopened&severity=critical&perPage=1`);
  const exported = parseCsv((await download(page, '#export-csv')).text);
  assert.equal(exported.length, critical.total);
  assert.ok(exported.every((row) => row.severity === 'critical' && row.state === 'reopened'));
  await page.click('#findings-changes [data-action=clear]');
  await page.waitForFunction(() => document.getElementById('findings-changes').hidden, null, { timeout: SHORT });
  assert.doesNotMatch(page.url(), /import=/);

  // The history's counts lead there too.
  await page.click('#history-table tbody tr:first-child a[data-changes=resolved]');
  await page.waitForFunction(
    (total) => document.querySelector('[data-pager=findings] [data-part=range]').textContent.includes(`of ${total.toLocaleString('en-US')}`),
    counts.resolved,
    { timeout: SHORT },
  );
  assert.match(await page.textContent('#findings-changes'), /Resolved in/);
  // The history's row has the report too.
  const fromHistory = await download(page, '#history-table tbody tr:first-child a[data-report=html]');
  assert.deepEqual(impactTotals(fromHistory.text), [counts.new, counts.reopened, counts.resolved]);

  // The detail view's lists are searchable.
  await page.click('#history-table tbody tr:first-child button[aria-label^="Details"]');
  await page.waitForSelector('#import-detail.show', { timeout: SHORT });
  const someTitle = expected.items[0].title.split(' ')[0];
  const found = await getJson(server, `/api/imports/${latest.sessionId}/findings?change=added&q=${encodeURIComponent(someTitle)}&perPage=1`);
  await page.fill('#panel-added input[type=search]', someTitle);
  await page.waitForFunction(
    (total) => document.querySelector('#panel-added [data-part=found]').textContent === `${total.toLocaleString('en-US')} found`,
    found.total,
    { timeout: SHORT },
  );
  assert.deepEqual(errors, []);
});

test('exported cells that a spreadsheet would run as formulas are neutralised', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const watcher = await Watcher.connect(server.url);
  t.after(() => watcher.close());
  const hostile = writeFile(server.dir, 'hostile.csv', [
    'hostname,ip,cve,title,severity',
    '"=HYPERLINK(""http://evil.example"",""x"")",10.0.0.1,CVE-2024-0001,"+cmd|\' /C calc\'!A0",high',
    'host-2,10.0.0.2,CVE-2024-0002,"@SUM(1+1)*cmd",critical',
    'host-3,10.0.0.3,CVE-2024-0003,"-2+3",low',
    'host-4,10.0.0.4,CVE-2024-0004,Plain title,medium',
  ].join('\n'));
  const { sessionId, end } = await importAndWait(server, watcher, hostile, { scanDate: '2026-01-05' });
  assert.equal(end.payload.type, 'complete', JSON.stringify(end));

  const exported = await fetch(new URL('/api/vulnerabilities/export?format=csv&sort=host&order=asc', server.url), {
    headers: { authorization: `Bearer ${server.admin.token}` },
  });
  assert.equal(exported.status, 200);
  assert.match(exported.headers.get('content-type'), /^text\/csv/);
  assert.match(exported.headers.get('content-disposition'), /^attachment; filename="vulnimport-findings-\d{4}-\d{2}-\d{2}\.csv"$/);
  const rows = parseCsv(await exported.text());
  assert.deepEqual(rows.map((row) => [row.hostname, row.title]), [
    // (Host names are stored in lower case.)
    ["'=hyperlink(\"http://evil.example\",\"x\")", "'+cmd|' /C calc'!A0"],
    ['host-2', "'@SUM(1+1)*cmd"],
    ['host-3', "'-2+3"],
    ['host-4', 'Plain title'],
  ]);
  // The report's CSV too; JSON keeps the values as stored.
  const report = await fetch(new URL(`/api/imports/${sessionId}/report?format=csv`, server.url), {
    headers: { authorization: `Bearer ${server.admin.token}` },
  });
  const changes = parseCsv(await report.text());
  assert.ok(changes.some((row) => row.title === "'+cmd|' /C calc'!A0" && row.change === 'new'), JSON.stringify(changes));
  const json = await (await fetch(new URL('/api/vulnerabilities/export?format=json&sort=host&order=asc', server.url), {
    headers: { authorization: `Bearer ${server.admin.token}` },
  })).json();
  assert.equal(json[0].hostname, '=hyperlink("http://evil.example","x")');
  assert.equal(json.length, 4);
});
