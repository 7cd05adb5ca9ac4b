// The open-findings counts per severity and the vulnerabilities table: search, filters by
// severity and state, sortable columns, paging, the findings one import added, resolved or
// reopened (from a count's link), and the list's download as CSV or JSON.

import { exportUrl } from './api.js';
import { el, fill, messageRow, severityBadge } from './dom.js';
import { formatCount, formatDay } from './format.js';
import { Pager, pageCount } from './pager.js';

/** How a list of an import's changes is named: "New in scan.csv (scan of 5 Jan 2026)". */
const CHANGE_NAMES = { added: 'New', resolved: 'Resolved', reopened: 'Reopened' };

/** A search starts this long after the last keystroke: with a page answered in tens of
 * milliseconds, the list follows the typing within 150 ms. */
export const SEARCH_DELAY_MS = 80;
/** Columns whose natural first order is ascending (text); the others start with the largest. */
const ASCENDING_FIRST = new Set(['host', 'cve', 'title', 'state']);
const COLUMNS = 9;

/** A finding's host as people know it: its name, with the address beside it when both exist. */
export function hostCell(finding) {
  const name = finding.hostname || finding.host || finding.ip || '–';
  const address = finding.ip && finding.ip !== name ? finding.ip : null;
  return el('td', { 'data-label': 'Host' }, name, address && el('div', { class: 'small text-body-secondary' }, address));
}

/** A finding's CVE, or its scanner plugin when it has none. */
export function cveCell(finding) {
  return el('td', { class: 'text-nowrap', 'data-label': 'CVE' }, finding.cve || (finding.pluginId ? `Plugin ${finding.pluginId}` : '–'));
}

function score(value) {
  return typeof value === 'number' ? value.toFixed(1) : '–';
}

function findingRow(finding) {
  return el(
    'tr',
    {},
    el('td', { 'data-label': 'Severity' }, severityBadge(finding.severity)),
    hostCell(finding),
    cveCell(finding),
    el('td', { class: 'finding-title', 'data-label': 'Title' }, finding.title ?? '–'),
    el('td', { class: 'd-none d-md-table-cell text-end', 'data-label': 'VPR' }, score(finding.vpr)),
    el('td', { class: 'd-none d-lg-table-cell text-end', 'data-label': 'CVSS' }, score(finding.cvss)),
    el('td', { 'data-label': 'State' }, el('span', { class: `state state-${finding.state}` }, finding.state ?? '–')),
    el('td', { class: 'd-none d-lg-table-cell text-nowrap', 'data-label': 'First seen' }, formatDay(finding.firstSeen)),
    el('td', { class: 'd-none d-md-table-cell text-nowrap', 'data-label': 'Last seen' }, formatDay(finding.lastSeen)),
  );
}

export class FindingsView {
  constructor(document, api) {
    this.api = api;
    this.query = { q: '', severity: '', state: '', import: '', change: '', sort: 'severity', order: 'desc', page: 1, perPage: 25 };
    this.table = document.getElementById('findings-table');
    this.body = this.table.querySelector('tbody');
    this.search = document.getElementById('findings-search');
    this.severity = document.getElementById('findings-severity');
    this.state = document.getElementById('findings-state');
    this.stateCounts = document.getElementById('state-counts');
    this.severityCounts = document.querySelectorAll('#overview [data-count]');
    this.severityButtons = document.querySelectorAll('#overview [data-severity]');
    this.pager = new Pager(document.querySelector('[data-pager=findings]'), this.table, (page) => this.update({ page }));
    this.changes = document.getElementById('findings-changes');
    this.exports = { csv: document.getElementById('export-csv'), json: document.getElementById('export-json') };
    this.changes.querySelector('[data-action=clear]').addEventListener('click', () => this.showChanges(null));

    let typing;
    this.search.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.update({ q: this.search.value.trim(), page: 1 }), SEARCH_DELAY_MS);
    });
    document.getElementById('findings-filters').addEventListener('submit', (event) => {
      event.preventDefault();
      clearTimeout(typing);
      this.update({ q: this.search.value.trim(), page: 1 });
    });
    this.severity.addEventListener('change', () => this.update({ severity: this.severity.value, page: 1 }));
    this.state.addEventListener('change', () => this.update({ state: this.state.value, page: 1 }));
    for (const button of this.severityButtons) {
      button.addEventListener('click', () => {
        const severity = this.query.severity === button.dataset.severity ? '' : button.dataset.severity;
        this.severity.value = severity;
        this.update({ severity, page: 1 });
      });
    }
    for (const header of this.table.querySelectorAll('th[data-sort]')) {
      header.querySelector('button').addEventListener('click', () => {
        const sort = header.dataset.sort;
        const order = sort === this.query.sort
          ? (this.query.order === 'asc' ? 'desc' : 'asc')
          : (ASCENDING_FIRST.has(sort) ? 'asc' : 'desc');
        this.update({ sort, order, page: 1 });
      });
    }
    this.renderSortState();
  }

  /** Reloads the counts and the table. */
  refresh() {
    return Promise.all([this.loadStats(), this.loadTable()]);
  }

  update(changes) {
    Object.assign(this.query, changes);
    this.renderSortState();
    for (const [format, link] of Object.entries(this.exports)) {
      link.href = exportUrl(this.query, format);
    }
    return this.loadTable();
  }

  /**
   * Lists exactly the findings the import `sessionId` changed that way (`added`, `resolved` or
   * `reopened`), under a bar that names them: the other filters and the search are cleared (and
   * can narrow the list again). `null` lists every finding again, keeping the other filters.
   */
  async showChanges(changes) {
    const { sessionId = '', change = '' } = changes ?? {};
    this.changes.hidden = !sessionId;
    const cleared = {};
    if (sessionId) {
      Object.assign(cleared, { q: '', severity: '', state: '' });
      this.search.value = '';
      this.severity.value = '';
      this.state.value = '';
      const text = this.changes.querySelector('[data-part=text]');
      text.textContent = `${CHANGE_NAMES[change] ?? change} findings of an import`;
      this.api.importRecord(sessionId).then((record) => {
        if (this.query.import === sessionId && this.query.change === change) {
          text.textContent = `${CHANGE_NAMES[change] ?? change} in ${record.fileName} (scan of ${formatDay(record.scanDate)})`
            + ' · as they are now';
        }
      }, () => {});
    } else if (this.query.import) {
      // The page's address stops naming them.
      window.history.replaceState(null, '', window.location.pathname + window.location.hash);
    }
    await this.update({ ...cleared, import: sessionId, change, page: 1 });
  }

  async loadStats() {
    try {
      const stats = await this.api.stats();
      for (const count of this.severityCounts) {
        count.textContent = formatCount(stats.openBySeverity?.[count.dataset.count] ?? 0);
      }
      this.stateCounts.textContent = `Active ${formatCount(stats.active)} · Reopened ${formatCount(stats.reopened)} · `
        + `Resolved ${formatCount(stats.resolved)} · Total ${formatCount(stats.total)}`;
    } catch (error) {
      this.stateCounts.textContent = `The counts could not be loaded: ${error.message}`;
    }
  }

  async loadTable() {
    try {
      // Only the newest request draws (null for the others): each one aborts the one before.
      const page = await this.pager.load((signal) => this.api.vulnerabilities(this.query, signal));
      if (!page) {
        return;
      }
      // A page past the last (findings have left the filter since it was chosen): the last one.
      const last = pageCount(page.total, page.perPage);
      if (page.page > last) {
        await this.update({ page: last });
        return;
      }
      const filtered = this.query.q || this.query.severity || this.query.state || this.query.import;
      fill(
        this.body,
        page.items.length > 0
          ? page.items.map(findingRow)
          : messageRow(COLUMNS, filtered ? 'No findings match these filters.' : 'No findings yet: import a scanner export.'),
      );
      this.pager.render(page, 'findings');
    } catch (error) {
      fill(this.body, messageRow(COLUMNS, `The findings could not be loaded: ${error.message}`, 'text-danger'));
    }
  }

  renderSortState() {
    for (const header of this.table.querySelectorAll('th[data-sort]')) {
      const sorted = header.dataset.sort === this.query.sort;
      if (sorted) {
        header.setAttribute('aria-sort', this.query.order === 'asc' ? 'ascending' : 'descending');
      } else {
        header.removeAttribute('aria-sort');
      }
    }
    for (const button of this.severityButtons) {
      button.setAttribute('aria-pressed', String(button.dataset.severity === this.query.severity));
    }
  }
}
