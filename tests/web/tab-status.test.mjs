// The tab's title and the end-of-import notification (tab-status.js), and the download and
// change-list addresses (api.js), without a browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { changesUrl, exportUrl, reportUrl } from '../../web/api.js';
import { TabStatus } from '../../web/tab-status.js';

/** A document whose visibility the test sets, and a window whose notifications it records. */
function page({ permission = 'granted', visible = true } = {}) {
  const listeners = [];
  const document = {
    title: 'vulnimport',
    visibilityState: visible ? 'visible' : 'hidden',
    addEventListener: (name, listener) => listeners.push([name, listener]),
    show(state) {
      this.visibilityState = state;
      for (const [name, listener] of listeners) {
        if (name === 'visibilitychange') {
          listener();
        }
      }
    },
  };
  const shown = [];
  const asked = [];
  class Notification {
    static permission = permission;

    static requestPermission() {
      asked.push(true);
      return Promise.resolve('granted');
    }

    constructor(title, options) {
      shown.push({ title, ...options });
    }
  }
  return { document, window: { Notification }, shown, asked };
}

test('the title follows the import, names its end, and comes back once the page is seen', () => {
  const { document, window, shown } = page({ visible: false });
  const tab = new TabStatus(document, window);
  tab.progress(41.7, 'scan.csv');
  assert.equal(document.title, '41% · scan.csv');
  tab.finished('completed', 'scan.csv', '3 new.');
  assert.equal(document.title, 'Completed · scan.csv');
  assert.deepEqual(shown, [{ title: 'Import completed', body: 'scan.csv: completed. 3 new.', tag: 'vulnimport-import' }]);
  document.show('visible');
  assert.equal(document.title, 'vulnimport');
});

test('a visible page gets no notification, and its title back at once', () => {
  const { document, window, shown } = page({ visible: true });
  const tab = new TabStatus(document, window);
  tab.progress(10, 'scan.csv');
  tab.finished('failed', 'scan.csv');
  assert.equal(document.title, 'vulnimport');
  assert.deepEqual(shown, []);
});

test('without permission the title alone tells; permission is asked only when undecided', () => {
  const denied = page({ permission: 'denied', visible: false });
  const tab = new TabStatus(denied.document, denied.window);
  tab.askToNotify();
  tab.finished('cancelled', 'scan.csv');
  assert.equal(denied.document.title, 'Cancelled · scan.csv');
  assert.deepEqual([denied.shown, denied.asked], [[], []]);

  const undecided = page({ permission: 'default' });
  new TabStatus(undecided.document, undecided.window).askToNotify();
  assert.deepEqual(undecided.asked, [true]);
  // A browser without notifications: nothing to ask.
  const none = page();
  new TabStatus(none.document, {}).askToNotify();
});

test('download and change-list addresses carry the list, not its page', () => {
  const query = { q: 'open ssl', severity: 'high', state: '', import: '', change: '', sort: 'title', order: 'asc', page: 7, perPage: 25 };
  assert.equal(exportUrl(query, 'csv'), '/api/vulnerabilities/export?q=open+ssl&severity=high&sort=title&order=asc&format=csv');
  const id = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';
  assert.equal(reportUrl(id, 'html'), `/api/imports/${id}/report?format=html`);
  assert.equal(changesUrl(id, 'resolved'), `/?import=${id}&change=resolved#findings`);
});
