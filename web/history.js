// The import history (who started it, outcome and who cancelled it, counts, duration, per-phase
// timings) and one import's detail: its record, its report, what it added, resolved and reopened
// (each list searchable), and the rows it rejected or warned about. The new, reopened and
// resolved counts link to those findings in the findings list. An import that did not complete
// says whether its upload is still kept; those who may import can retry it from there.

import { changesUrl, reportUrl } from './api.js';
import { el, fill, messageRow, outcomeBadge, severityBadge } from './dom.js';
import { cveCell, hostCell, SEARCH_DELAY_MS } from './findings.js';
import { formatBytes, formatCount, formatDateTime, formatDay, formatDuration, formatName, phaseTimes } from './format.js';
import { Pager } from './pager.js';

const COLUMNS = 8;
const PHASES = [['parsing', 'Parsing'], ['loading', 'Loading'], ['processing', 'Processing'], ['finalizing', 'Finalizing']];
const CHANGES = [['new', 'new'], ['updated', 'updated'], ['reopened', 'reopened'], ['resolved', 'resolved']];
const COUNTS = [
  ['rows', 'Rows'], ['records', 'Records'], ['new', 'New'], ['updated', 'Updated'], ['reopened', 'Reopened'],
  ['resolved', 'Resolved'], ['rejected', 'Rejected'], ['duplicates', 'Duplicates'], ['warnings', 'Warnings'],
];
const FINDINGS_PER_PAGE = 50;
/** The counts that have a list of findings, and the change that lists them. */
const LISTED = { new: 'added', reopened: 'reopened', resolved: 'resolved' };

/** What an import changed, naming only what it did: "4,329 new · 2 resolved", each a link. */
function changes(record) {
  const counts = record.counts ?? {};
  const done = CHANGES.filter(([key]) => counts[key] > 0)
    .map(([key, label]) => countLink(record, key, `${formatCount(counts[key])} ${label}`));
  return done.length > 0 ? joined(done) : 'no changes';
}

/** A count as a link to the findings it counts, when it has a list; as text otherwise. */
function countLink(record, key, text) {
  const change = LISTED[key];
  if (!change || !(record.counts?.[key] > 0)) {
    return text;
  }
  return el('a', { href: changesUrl(record.sessionId, change), 'data-changes': change, 'data-session': record.sessionId }, text);
}

function reportLinks(record) {
  return [
    el('a', { href: reportUrl(record.sessionId, 'html'), download: '' }, 'page (HTML)'),
    ' · ',
    el('a', { href: reportUrl(record.sessionId, 'csv'), download: '' }, 'changes (CSV)'),
  ];
}

/** Items separated by dots, each kept on one line. */
function joined(items) {
  if (items.length === 0) {
    return null;
  }
  return items.flatMap((item, index) => [index > 0 ? ' · ' : null, el('span', { class: 'text-nowrap' }, item)]);
}

function countList(pairs, values, format) {
  return pairs.map(([key, label]) => el('div', {}, el('dt', {}, label), el('dd', {}, format(values?.[key]))));
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * What became of an import's upload, for one that did not complete: "upload kept until …",
 * "upload removed after 7 days", "imported from the command line"; null for the others.
 */
function uploadNote(record) {
  if (record.uploadKept) {
    return `upload kept until ${formatDateTime(record.uploadKeptUntil)}`;
  }
  const gone = record.uploadGone;
  if (gone?.reason === 'commandLine') {
    return 'imported from the command line';
  }
  if (gone?.reason === 'retention') {
    const ended = Date.parse(record.finishedAt ?? record.startedAt);
    // Gone before its days were up: removed to keep kept uploads within their size.
    return Date.now() - ended < gone.keptDays * DAY_MS
      ? 'upload removed: kept uploads reached their size limit'
      : `upload removed after ${gone.keptDays} day${gone.keptDays === 1 ? '' : 's'}`;
  }
  return null;
}

/** "retry of 1a2b3c4d…" for an import started from another's kept upload. */
function retryNote(record) {
  return record.retryOf ? `retry of ${record.retryOf.slice(0, 8)}…` : null;
}

function historyRow(record, openDetail, retry) {
  const counts = record.counts ?? {};
  const upload = uploadNote(record);
  return el(
    'tr',
    {},
    el(
      'td',
      { class: 'text-nowrap small', 'data-label': 'Started' },
      formatDateTime(record.startedAt),
      record.startedBy && el('div', { class: 'text-body-secondary', 'data-part': 'startedBy' }, `by ${record.startedBy}`),
    ),
    el(
      'td',
      { class: 'history-file', 'data-label': 'File' },
      record.fileName ?? '–',
      el('div', { class: 'small text-body-secondary text-nowrap' }, `${record.scope ?? ''} · scan ${formatDay(record.scanDate)}`),
    ),
    el(
      'td',
      { 'data-label': 'Outcome' },
      outcomeBadge(record.outcome),
      record.cancelledBy && el('div', { class: 'small text-body-secondary text-nowrap', 'data-part': 'cancelledBy' }, `cancelled by ${record.cancelledBy}`),
      record.retryOf && el('div', { class: 'small text-body-secondary text-nowrap', 'data-part': 'retryOf', title: record.retryOf }, retryNote(record)),
      upload && el('div', { class: 'small text-body-secondary', 'data-part': 'upload' }, upload),
    ),
    el('td', { class: 'small history-changes', 'data-label': 'Changes' }, changes(record)),
    el('td', { class: 'text-end', 'data-label': 'Rejected' }, formatCount(counts.rejected ?? 0)),
    el('td', { class: 'text-end text-nowrap', 'data-label': 'Duration' }, formatDuration(record.durationMs)),
    el(
      'td',
      { class: 'd-none d-lg-table-cell small history-phases', 'data-label': 'Phases' },
      joined(phaseTimes(record.timings, record.outcome)) || '–',
    ),
    el(
      'td',
      { class: 'text-end' },
      el(
        'div',
        { class: 'd-grid gap-1' },
        el(
          'button',
          { type: 'button', class: 'btn btn-sm btn-outline-primary', 'aria-label': `Details of ${record.fileName}`, onclick: () => openDetail(record) },
          'Details',
        ),
        el(
          'a',
          { class: 'btn btn-sm btn-outline-secondary', href: reportUrl(record.sessionId, 'html'), download: '', 'aria-label': `Report of ${record.fileName} (HTML)`, 'data-report': 'html' },
          'Report',
        ),
        retry && record.uploadKept && el(
          'button',
          { type: 'button', class: 'btn btn-sm btn-outline-secondary', 'data-action': 'retry', 'aria-label': `Retry ${record.fileName}`, onclick: () => retry(record) },
          'Retry',
        ),
      ),
    ),
  );
}

export class HistoryView {
  constructor(document, api, bootstrap = globalThis.bootstrap) {
    this.api = api;
    this.table = document.getElementById('history-table');
    this.body = this.table.querySelector('tbody');
    this.pager = new Pager(document.querySelector('[data-pager=history]'), this.table, (page) => this.load(page));
    this.page = 1;
    this.detail = new ImportDetail(document.getElementById('import-detail'), api, bootstrap);
    // `retry(record)`, for those who may import.
    this.retry = null;
  }

  /** Offers a Retry to imports whose upload is kept: `retry(record)` starts it. */
  allowRetry(retry) {
    this.retry = retry;
  }

  refresh() {
    return this.load(this.page);
  }

  /** Opens the details of the import `sessionId`, on its `tab` (`rejected`, `warnings`) if given. */
  async showDetail(sessionId, tab) {
    const record = await this.api.importRecord(sessionId).catch(() => null);
    if (record) {
      this.detail.show(record, tab);
    }
  }

  hideDetail() {
    this.detail.modal.hide();
  }

  async load(page) {
    this.page = page;
    try {
      // Only the newest request draws (null for the others): each one aborts the one before.
      const history = await this.pager.load((signal) => this.api.imports({ page, perPage: 10 }, signal));
      if (!history) {
        return;
      }
      fill(
        this.body,
        history.items.length > 0
          ? history.items.map((record) => historyRow(record, (chosen) => this.detail.show(chosen), this.retry))
          : messageRow(COLUMNS, 'No imports yet.'),
      );
      this.pager.render(history, 'imports');
    } catch (error) {
      fill(this.body, messageRow(COLUMNS, `The history could not be loaded: ${error.message}`, 'text-danger'));
    }
  }
}

/** The detail modal of one import. */
class ImportDetail {
  constructor(element, api, bootstrap) {
    this.element = element;
    this.api = api;
    this.bootstrap = bootstrap;
    this.modal = bootstrap.Modal.getOrCreateInstance(element);
    this.parts = {};
    for (const part of element.querySelectorAll('[data-part]')) {
      this.parts[part.dataset.part] = part;
    }
    this.record = null;
    // Each change list's search text.
    this.searches = {};
    for (const tab of element.querySelectorAll('[data-change]')) {
      tab.addEventListener('shown.bs.tab', () => this.loadFindings(tab.dataset.change, 1));
    }
  }

  show(record, tab) {
    this.record = record;
    const counts = record.counts ?? {};
    this.parts.title.textContent = record.fileName ?? 'Import';
    const facts = [
      ['Outcome', [outcomeBadge(record.outcome), record.cancelledBy && ` by ${record.cancelledBy}`]],
      ['Scan date', formatDay(record.scanDate)],
      ['Scope', record.scope ?? '–'],
      ['Started', `${formatDateTime(record.startedAt)}${record.startedBy ? ` by ${record.startedBy}` : ''}`],
      ['Duration', formatDuration(record.durationMs)],
      ['File', `${formatBytes(record.fileSize)} · ${formatName(record.format)} · ${record.encoding ?? 'unknown encoding'}`],
    ];
    if (record.backfill) {
      facts.push(['Backfill', 'older than the newest scan: states were not changed']);
    }
    if (record.error) {
      facts.push(['Error', record.error]);
    }
    if (record.retryOf) {
      facts.push(['Retry of', record.retryOf]);
    }
    const upload = uploadNote(record);
    if (upload) {
      facts.push(['Upload', upload]);
    }
    facts.push(['Report', reportLinks(record)]);
    fill(this.parts.facts, facts.map(([label, value]) => el('div', {}, el('dt', {}, label), el('dd', {}, value))));
    fill(this.parts.counts, COUNTS.map(([key, label]) =>
      el('div', {}, el('dt', {}, label), el('dd', {}, countLink(record, key, formatCount(counts[key] ?? 0))))));
    // A phase an import that ended early never reached has no time.
    const reached = (ms) => (record.outcome === 'completed' || ms > 0 ? formatDuration(ms) : '–');
    fill(this.parts.timings, countList(PHASES, record.timings, reached));
    for (const badge of this.element.querySelectorAll('[data-tab-count]')) {
      badge.textContent = formatCount(counts[badge.dataset.tabCount] ?? 0);
    }
    for (const panel of this.element.querySelectorAll('[data-problems]')) {
      this.renderProblems(panel, record.problems?.[panel.dataset.problems] ?? []);
    }
    this.searches = {};
    for (const panel of this.element.querySelectorAll('[data-findings]')) {
      fill(panel);
    }
    // Open on the tab asked for, else the first; showing it (when another was open) loads its
    // findings.
    const first = this.element.querySelector(`#tab-${tab ?? 'added'}`) ?? this.element.querySelector('#tab-added');
    if (!first.classList.contains('active')) {
      this.bootstrap.Tab.getOrCreateInstance(first).show();
    } else if (first.dataset.change) {
      this.loadFindings(first.dataset.change, 1);
    }
    this.modal.show();
  }

  /** The search box above a change list: filters it as one types. */
  searchBox(change) {
    let typing;
    const input = el('input', {
      type: 'search',
      class: 'form-control form-control-sm',
      placeholder: 'Search host, CVE or title',
      'aria-label': `Search the ${change} findings`,
      value: this.searches[change] ?? '',
    });
    input.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        this.searches[change] = input.value.trim();
        this.loadFindings(change, 1);
      }, SEARCH_DELAY_MS);
    });
    return el('div', { class: 'd-flex flex-wrap align-items-center gap-2 my-2' }, el('div', { class: 'flex-grow-1' }, input), el('span', { class: 'small text-body-secondary', 'data-part': 'found' }));
  }

  renderProblems(panel, problems) {
    if (problems.length === 0) {
      fill(panel, el('p', { class: 'text-body-secondary my-3' }, 'None.'));
      return;
    }
    fill(
      panel,
      el(
        'table',
        { class: 'table table-sm' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col', class: 'text-end' }, 'Line'), el('th', { scope: 'col' }, 'Reason'))),
        el('tbody', {}, problems.map((problem) => el('tr', {}, el('td', { class: 'text-end' }, String(problem.line)), el('td', { class: 'text-break' }, problem.reason)))),
      ),
    );
  }

  async loadFindings(change, page) {
    const record = this.record;
    const panel = this.element.querySelector(`[data-findings=${change}]`);
    // The search box stays while the list under it is redrawn.
    if (!panel.querySelector('[data-part=list]')) {
      const listed = Object.keys(LISTED).find((key) => LISTED[key] === change);
      fill(panel, record.counts?.[listed] > 0 ? this.searchBox(change) : null, el('div', { 'data-part': 'list' }));
    }
    const list = panel.querySelector('[data-part=list]');
    const q = this.searches[change] ?? '';
    if (page === 1) {
      fill(list, el('p', { class: 'text-body-secondary my-3' }, 'Loading…'));
    }
    try {
      const result = await this.api.importFindings(record.sessionId, { change, q, page, perPage: FINDINGS_PER_PAGE });
      if (record !== this.record || q !== (this.searches[change] ?? '')) {
        return;
      }
      const found = panel.querySelector('[data-part=found]');
      if (found) {
        found.textContent = q ? `${formatCount(result.total)} found` : '';
      }
      let body = list.querySelector('tbody');
      if (page === 1) {
        if (result.total === 0) {
          fill(list, el('p', { class: 'text-body-secondary my-3' }, q ? 'No finding matches.' : 'None.'));
          return;
        }
        body = el('tbody');
        fill(
          list,
          el(
            'div',
            { class: 'table-responsive' },
            el(
              'table',
              { class: 'table table-sm align-middle' },
              el('thead', {}, el('tr', {}, ['Severity', 'Host', 'CVE', 'Title'].map((name) => el('th', { scope: 'col' }, name)))),
              body,
            ),
          ),
        );
      }
      body.append(
        ...result.items.map((finding) =>
          el('tr', {}, el('td', {}, severityBadge(finding.severity)), hostCell(finding), cveCell(finding), el('td', {}, finding.title ?? '–'))),
      );
      list.querySelector('[data-more]')?.remove();
      if (page * result.perPage < result.total) {
        list.append(
          el(
            'button',
            { type: 'button', class: 'btn btn-sm btn-outline-secondary', 'data-more': true, onclick: () => this.loadFindings(change, page + 1) },
            `Show more (${formatCount(result.total - page * result.perPage)} left)`,
          ),
        );
      }
    } catch (error) {
      fill(list, el('p', { class: 'text-danger my-3' }, `These findings could not be loaded: ${error.message}`));
    }
  }
}
