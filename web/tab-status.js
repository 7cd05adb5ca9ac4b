// The followed import, seen from a background tab: the document title carries its progress
// ("42% · scan.csv") and then its outcome, and a browser notification tells of its end when the
// page is hidden. Notifications are asked for only on a user's action (starting an import), as
// browsers require; without that permission the title alone tells.

const OUTCOMES = {
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

export class TabStatus {
  constructor(document, window = globalThis) {
    this.document = document;
    this.window = window;
    this.baseTitle = document.title;
    // Once the page is seen again, an ended import's title has been read: back to the page's own.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.ended) {
        this.reset();
      }
    });
  }

  /** Asks for permission to notify, when it has not been given or refused yet. */
  askToNotify() {
    const Notification = this.window.Notification;
    if (Notification?.permission === 'default') {
      Notification.requestPermission().catch(() => {});
    }
  }

  /** The import's progress in the title. */
  progress(percent, fileName) {
    this.ended = false;
    this.document.title = `${Math.floor(percent)}% · ${fileName || 'import'}`;
  }

  /**
   * The import has ended: its outcome in the title, and a notification when the page is hidden
   * (the title goes back once the page is seen).
   */
  finished(outcome, fileName, detail = '') {
    const label = OUTCOMES[outcome] ?? outcome;
    this.document.title = `${label} · ${fileName || 'import'}`;
    this.ended = true;
    if (this.document.visibilityState === 'visible') {
      this.reset();
      return;
    }
    const Notification = this.window.Notification;
    if (Notification?.permission === 'granted') {
      const body = `${fileName || 'The import'}: ${label.toLowerCase()}${detail ? `. ${detail}` : '.'}`;
      new Notification(`Import ${label.toLowerCase()}`, { body, tag: 'vulnimport-import' });
    }
  }

  reset() {
    this.ended = false;
    this.document.title = this.baseTitle;
  }
}
