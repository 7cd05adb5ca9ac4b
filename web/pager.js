// Paging under a table: First, Previous, the page number to type ("Page [3] of 45,312"), Next,
// Last, and the range shown ("51–75 of 2,265,271 findings"). It also runs the table's fetches: a
// newer one aborts the one it replaces, the table is busy (dimmed) meanwhile, and one that takes a
// moment says "Loading…" (a quick one does not, so fast pages do not flicker).

import { el, fill } from './dom.js';
import { formatCount } from './format.js';

const LOADING_DELAY_MS = 200;

/** How many pages `total` rows make, `perPage` to a page: at least one (the empty one). */
export function pageCount(total, perPage) {
  return Math.max(1, Math.ceil(total / perPage));
}

/** A page number asked for, made one of the `pages`: whole, from 1 to `pages`; null for no number. */
export function clampPage(number, pages) {
  if (!Number.isFinite(number)) {
    return null;
  }
  return Math.min(Math.max(Math.round(number), 1), pages);
}

/** The rows a page shows: "26–50 of 120 findings", or "No findings". */
export function rangeText({ page, perPage, total }, noun) {
  if (total === 0) {
    return `No ${noun}`;
  }
  const first = (page - 1) * perPage + 1;
  const last = Math.min(page * perPage, total);
  return `${formatCount(first)}–${formatCount(last)} of ${formatCount(total)} ${noun}`;
}

/** The pager's markup: the range and loading status, the buttons and the page-number field. */
function controls() {
  const wide = (text) => el('span', { class: 'd-none d-sm-inline' }, text);
  const button = (page, label, ...text) =>
    el('button', { type: 'button', class: 'btn btn-outline-secondary', 'data-page': page, 'aria-label': label }, ...text);
  const buttons = (...children) => el('span', { class: 'btn-group btn-group-sm' }, ...children);
  return [
    el(
      'span',
      { class: 'small text-body-secondary' },
      el('span', { 'data-part': 'range', 'aria-live': 'polite' }),
      ' ',
      el('span', { 'data-part': 'loading', role: 'status' }),
    ),
    el(
      'div',
      { class: 'pager-controls' },
      buttons(button('first', 'First page', '«', wide(' First')), button('previous', 'Previous page', '‹', wide(' Previous'))),
      el(
        'form',
        { class: 'pager-number small', novalidate: true },
        el(
          'label',
          {},
          'Page ',
          el('input', {
            type: 'number', class: 'form-control form-control-sm', 'data-part': 'number',
            min: 1, max: 1, step: 1, value: 1, 'aria-label': 'Page number',
          }),
        ),
        el('span', {}, 'of ', el('span', { 'data-part': 'pages' }, '1')),
      ),
      buttons(button('next', 'Next page', wide('Next '), '›'), button('last', 'Last page', wide('Last '), '»')),
    ),
  ];
}

export class Pager {
  /**
   * `root`: the pager's (empty) `<nav>`, which it fills with its controls; `table`: the table it
   * pages; `onPage(page)`: shows that page.
   */
  constructor(root, table, onPage) {
    fill(root, controls());
    this.root = root;
    this.table = table;
    this.onPage = onPage;
    this.buttons = {};
    for (const button of root.querySelectorAll('[data-page]')) {
      this.buttons[button.dataset.page] = button;
    }
    this.number = root.querySelector('[data-part=number]');
    this.pages = root.querySelector('[data-part=pages]');
    this.range = root.querySelector('[data-part=range]');
    this.loading = root.querySelector('[data-part=loading]');
    /** The page shown, the page asked for (they differ while it loads), how many there are. */
    this.page = 1;
    this.wanted = 1;
    this.count = 1;
    this.fetching = null;
    this.loadingTimer = null;

    this.buttons.first.addEventListener('click', () => this.go(1));
    this.buttons.previous.addEventListener('click', () => this.go(this.wanted - 1));
    this.buttons.next.addEventListener('click', () => this.go(this.wanted + 1));
    this.buttons.last.addEventListener('click', () => this.go(this.count));
    // Enter submits the field's form; leaving the field (or its arrows) changes it.
    this.number.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.go(this.number.valueAsNumber);
    });
    this.number.addEventListener('change', () => this.go(this.number.valueAsNumber));
  }

  /** Asks for `page`, clamped to the pages there are; the field shows the page asked for. */
  go(page) {
    const target = clampPage(page, this.count) ?? this.wanted;
    this.number.value = String(target);
    if (target !== this.wanted) {
      this.wanted = target;
      this.onPage(target);
    }
  }

  /**
   * Runs `request(signal)`, which fetches a page, with the table busy meanwhile; a newer call
   * aborts it through `signal`. Resolves with the answer, or null when a newer call replaced
   * it; rejects only when the newest one fails.
   */
  async load(request) {
    this.fetching?.abort();
    const fetching = new AbortController();
    this.fetching = fetching;
    this.busy(true);
    try {
      const answer = await request(fetching.signal);
      return fetching === this.fetching ? answer : null;
    } catch (error) {
      if (fetching !== this.fetching) {
        return null;
      }
      // The page asked for was not shown: asking for it again tries again.
      this.wanted = this.page;
      throw error;
    } finally {
      if (fetching === this.fetching) {
        this.fetching = null;
        this.busy(false);
      }
    }
  }

  /** Marks the table busy, saying "Loading…" after a moment; or no longer busy. */
  busy(busy) {
    clearTimeout(this.loadingTimer);
    if (busy) {
      this.table.setAttribute('aria-busy', 'true');
      this.loadingTimer = setTimeout(() => {
        fill(this.loading, el('span', { class: 'spinner-border spinner-border-sm', 'aria-hidden': 'true' }), ' Loading…');
      }, LOADING_DELAY_MS);
    } else {
      this.table.removeAttribute('aria-busy');
      fill(this.loading);
    }
  }

  /** Shows the page an answer holds (`page`, `perPage`, `total`), its rows called `noun`. */
  render({ page, perPage, total }, noun) {
    this.page = page;
    this.wanted = page;
    this.count = pageCount(total, perPage);
    this.number.value = String(page);
    this.number.max = String(this.count);
    this.pages.textContent = formatCount(this.count);
    this.range.textContent = rangeText({ page, perPage, total }, noun);
    // A button that ends up disabled under the keyboard's focus hands it to the page field.
    const focused = document.activeElement;
    this.buttons.first.disabled = page <= 1;
    this.buttons.previous.disabled = page <= 1;
    this.buttons.next.disabled = page >= this.count;
    this.buttons.last.disabled = page >= this.count;
    if (focused?.disabled && this.root.contains(focused)) {
      this.number.focus();
    }
  }
}
