// Previous/next paging under a table, with the range shown ("26–50 of 120").

import { formatCount } from './format.js';

export class Pager {
  /** `root`: the pager's markup (`[data-part=range]`, `[data-page]` buttons); `onPage(page)`. */
  constructor(root, onPage) {
    this.range = root.querySelector('[data-part=range]');
    this.previous = root.querySelector('[data-page=previous]');
    this.next = root.querySelector('[data-page=next]');
    this.page = 1;
    this.previous.addEventListener('click', () => onPage(this.page - 1));
    this.next.addEventListener('click', () => onPage(this.page + 1));
  }

  render({ page, perPage, total }, noun) {
    this.page = page;
    const first = total === 0 ? 0 : (page - 1) * perPage + 1;
    const last = Math.min(page * perPage, total);
    this.range.textContent = total === 0 ? `No ${noun}` : `${formatCount(first)}–${formatCount(last)} of ${formatCount(total)} ${noun}`;
    this.previous.disabled = page <= 1;
    this.next.disabled = last >= total;
  }
}
