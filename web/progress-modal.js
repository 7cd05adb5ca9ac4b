// The design's ProgressModal: a Bootstrap modal following one import from the upload to its end.
// It shows the upload's own progress until the server's phases begin, then the bar and percentage,
// the phase, the server's message and the ETA; cancelling asks first and ends only when the
// server reports `importCancelled`; an error shows the server's message; completion shows the
// summary, with the import's duration as its record gives it (as the history does) and, for one
// that ended early, the time each phase it reached took. A polite live region announces each new
// phase and the end. While the live connection is down it says so: progress then comes from
// polling, and when the server cannot be reached at all the bar stops moving and the ETA goes
// until news arrives. Everything the server says is inserted as text. Once the server has the
// import, its end offers the report (HTML, CSV) and its details; in a completed import's summary
// the new, reopened and resolved counts link to those findings, the rejected rows and warnings to
// the details. An import that ended without completing offers a Retry (to those who may import)
// while its upload is kept.

import { changesUrl, reportUrl } from './api.js';
import { el, fill } from './dom.js';
import { formatBytes, formatCount, formatDuration, formatETA, outcomeLabel, phaseTimes, sentence } from './format.js';

export { formatETA };

const PHASES = {
  parsing: 'Parsing',
  loading: 'Loading',
  processing: 'Processing',
  finalizing: 'Finalizing',
};

const FINISHED = new Set(['completed', 'failed', 'cancelled', 'interrupted']);
const STOPPING = 'Stopping the import and rolling it back…';
const POLLING = 'No live connection: progress is checked over HTTP every second.';
const LOST = 'The connection to the server is lost. Trying to reconnect…';

export class ProgressModal {
  /**
   * `element`: the modal's markup (see index.html); `client`: the WebSocketClient whose events it
   * follows; `readRecord(sessionId)`: resolves with an import's record (`GET
   * /api/imports/{id}/record`); `onFinished(outcome, event)`: called once when the import has ended;
   * `onProgress(percent)`: the server's progress; `showDetails(sessionId, tab)`: opens the import's
   * details (on `rejected` or `warnings`).
   */
  constructor(element, {
    client, readRecord, bootstrap = globalThis.bootstrap, onFinished = () => {}, onProgress = () => {}, showDetails = () => {},
  }) {
    this.element = element;
    this.client = client;
    this.readRecord = readRecord;
    this.onFinished = onFinished;
    this.onProgress = onProgress;
    this.modal = bootstrap.Modal.getOrCreateInstance(element, { backdrop: 'static', keyboard: false });
    this.parts = {};
    for (const part of element.querySelectorAll('[data-part]')) {
      this.parts[part.dataset.part] = part;
    }
    this.buttons = {};
    for (const button of element.querySelectorAll('[data-action]')) {
      this.buttons[button.dataset.action] = button;
    }
    this.sessionId = null;
    // What had the focus when the modal opened: it gets it back when the modal closes.
    this.opener = null;
    this.state = 'idle';
    this.progress = 0;
    this.upload = null;
    // Whether the server has the import (and so a record of it once it ends).
    this.accepted = false;
    // `retry(record)`, for those who may import (see `allowRetry`); the record it would retry.
    this.retry = null;
    this.retryRecord = null;

    this.buttons.cancel.addEventListener('click', () => this.askToCancel());
    this.buttons.keep.addEventListener('click', () => this.closeConfirmation(true));
    this.buttons.stop.addEventListener('click', () => {
      this.closeConfirmation(false);
      this.cancel();
    });
    this.buttons.close.addEventListener('click', () => this.hide());
    this.buttons.details.addEventListener('click', (event) => {
      event.preventDefault();
      const sessionId = this.sessionId;
      this.hide();
      showDetails(sessionId);
    });
    for (const problems of element.querySelectorAll('[data-problems]')) {
      problems.addEventListener('click', (event) => {
        if (event.target.closest('a')) {
          event.preventDefault();
          const sessionId = this.sessionId;
          this.hide();
          showDetails(sessionId, problems.dataset.problems);
        }
      });
    }
    this.buttons.retry.addEventListener('click', () => this.retry?.(this.retryRecord));
    // Escape closes the modal only once the import has ended; until then it must not vanish.
    element.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.finished) {
        this.hide();
      }
    });
    // Bootstrap focuses the dialog once it has faded in, after a quick import may have ended.
    element.addEventListener('shown.bs.modal', () => {
      if (this.finished) {
        this.buttons.close.focus();
      }
    });
    element.addEventListener('hidden.bs.modal', () => {
      this.client.leaveSession();
      // Back to the control that opened the modal (the import form's button), if still there.
      if (this.opener?.isConnected && this.opener !== document.body) {
        this.opener.focus();
      }
    });
    client.on('statechange', () => this.showConnection());
    client.on('progress', (event) => this.updateProgress(event));
    client.on('importCancelled', (event) => {
      if (event.sessionId === this.sessionId) {
        this.accepted = true;
        this.showCancelled();
      }
    });
  }

  get finished() {
    return FINISHED.has(this.state);
  }

  /** Offers a Retry when an import ends without completing and its upload is kept. */
  allowRetry(retry) {
    this.retry = retry;
  }

  show(title, sessionId) {
    // A retry from the modal itself keeps the control that first opened it.
    if (!this.element.contains(document.activeElement)) {
      this.opener = document.activeElement;
    }
    this.sessionId = sessionId;
    this.buttons.retry.hidden = true;
    this.upload = null;
    this.accepted = false;
    this.progress = 0;
    this.parts.title.textContent = title;
    this.parts.phase.textContent = 'Uploading';
    this.parts.announce.textContent = '';
    this.parts.message.textContent = 'Sending the file to the server…';
    this.parts.eta.textContent = '';
    this.parts.upload.hidden = false;
    this.parts.summary.hidden = true;
    this.parts.times.hidden = true;
    this.parts.reports.hidden = true;
    this.parts.alert.hidden = true;
    this.parts.confirm.hidden = true;
    this.setBar(this.parts.bar, 0);
    this.updateUpload(0, 0);
    this.setState('uploading');
    this.modal.show();
  }

  /** Follows an import already under way (found after a reload), from its `status`. */
  attach(title, status) {
    this.follow(title, status.sessionId);
    this.updateProgress(status);
  }

  /** Follows an import the server has, from its next event on (a retry, say). */
  follow(title, sessionId) {
    this.show(title, sessionId);
    this.parts.upload.hidden = true;
    this.parts.message.textContent = '';
    this.setState('running');
  }

  /** The upload under way (from `uploadImport`), so that cancelling can stop it. */
  trackUpload(upload) {
    this.upload = upload;
  }

  /** The upload's own progress, before the server's phases begin. */
  updateUpload(loaded, total) {
    const percent = total > 0 ? Math.floor((loaded / total) * 100) : 0;
    this.setBar(this.parts.uploadBar, percent);
    this.parts.uploadText.textContent = total > 0 ? `${formatBytes(loaded)} of ${formatBytes(total)} (${percent}%)` : '';
  }

  /** The server has the file: the import is queued or starting. */
  uploadAccepted() {
    this.accepted = true;
    if (this.state === 'uploading') {
      this.parts.phase.textContent = 'Starting';
      this.parts.message.textContent = 'The file is in; the import is starting…';
      this.setState('running');
    }
  }

  /** A progress event (from the socket or a poll) for this session. */
  updateProgress(event) {
    if (!event || event.sessionId !== this.sessionId || this.finished) {
      return;
    }
    this.accepted = true;
    if (event.type === 'complete') {
      this.showSummary(event);
      return;
    }
    if (event.type === 'error') {
      // The outcome comes with a polled status, or in the event's summary.
      const outcome = event.outcome ?? event.data?.outcome;
      if (outcome === 'cancelled') {
        this.showCancelled();
      } else if (outcome === 'interrupted') {
        this.showStopped(event.message);
      } else {
        this.showError(event.message);
      }
      return;
    }
    if (this.state === 'uploading') {
      this.setState('running');
    }
    this.parts.upload.hidden = true;
    // Events can arrive twice (socket and poll, catch-up after a reconnect): never go back.
    this.progress = Math.max(this.progress, event.progress ?? 0);
    this.setBar(this.parts.bar, this.progress);
    this.onProgress(this.progress);
    const queued = event.data?.queuePosition !== undefined;
    const phase = queued ? 'Queued' : (PHASES[event.type] ?? event.type);
    if (phase !== this.parts.phase.textContent) {
      this.announce(phase);
    }
    this.parts.phase.textContent = phase;
    this.parts.message.textContent = event.message ?? '';
    // No ETA yet (nothing to go by) is said so; a queued import has none to give.
    const eta = formatETA(event.eta);
    this.parts.eta.textContent = eta ? `About ${eta} left` : (queued ? '' : 'Estimating…');
    this.showConnection();
  }

  /**
   * How progress reaches the modal while the import goes on: nothing to say when live; a notice
   * when polling; when the server cannot be reached, a notice, a still bar and no ETA.
   */
  showConnection() {
    const notice = this.parts.connection;
    const following = !this.finished && this.state !== 'idle';
    const mode = this.client.mode;
    const lost = following && mode === 'polling' && !this.client.serverReachable;
    notice.hidden = !following || mode !== 'polling';
    notice.dataset.connection = notice.hidden ? 'none' : (lost ? 'lost' : 'polling');
    notice.className = `small mt-2 mb-0 ${lost ? 'text-danger' : 'text-body-secondary'}`;
    notice.textContent = lost ? LOST : POLLING;
    if (lost) {
      this.parts.eta.textContent = '';
    }
    this.setStripes(!this.finished && !lost);
  }

  showError(message) {
    this.showAlert('danger', message || 'The import failed.');
    this.finish('failed');
  }

  /** Stopped by the server (a shutdown), not by anyone's cancel. */
  showStopped(message) {
    this.showAlert('warning', sentence(message) || 'The server stopped the import; nothing was changed.');
    this.finish('interrupted');
  }

  showCancelled(message = 'The import was cancelled; nothing was changed.') {
    this.showAlert('warning', message);
    this.finish('cancelled');
  }

  showSummary(event) {
    const summary = event.data ?? {};
    this.progress = 100;
    this.setBar(this.parts.bar, 100);
    this.parts.upload.hidden = true;
    for (const field of this.parts.summary.querySelectorAll('[data-count]')) {
      const count = summary[field.dataset.count] ?? 0;
      const text = formatCount(count);
      // A count above zero leads to what it counts: those findings, or the import's details.
      if (count > 0 && field.dataset.change) {
        fill(field, el('a', { href: changesUrl(this.sessionId, field.dataset.change), 'data-changes': field.dataset.change, 'data-session': this.sessionId }, text));
      } else if (count > 0 && field.dataset.problems) {
        fill(field, el('a', { href: '#' }, text));
      } else {
        field.textContent = text;
      }
    }
    this.parts.duration.textContent = formatDuration(summary.durationMs);
    // The change counts are of records, not rows: say so when the two differ.
    const records = this.parts.records;
    records.hidden = summary.records === summary.rows;
    records.textContent = `The ${formatCount(summary.rows)} rows read make ${formatCount(summary.records)} records: `
      + 'a row becomes one record per CVE it lists (a rejected row becomes none), and the counts above are of records.';
    this.parts.summary.hidden = false;
    this.parts.message.textContent = event.message ?? '';
    const changes = ['new', 'updated', 'reopened', 'resolved'].map((count) => `${formatCount(summary[count])} ${count}`);
    this.finish('completed', event, ` ${changes.join(', ')}; took ${formatDuration(summary.durationMs)}.`);
  }

  /**
   * How long an import that ended early ran, and in which phases, from its record (the same
   * figures as the history's), and a Retry when its upload is kept; nothing when the record
   * cannot be read.
   */
  async showTimes() {
    const sessionId = this.sessionId;
    const record = await this.readRecord(sessionId).catch(() => null);
    if (!record || sessionId !== this.sessionId) {
      return;
    }
    this.retryRecord = record;
    this.buttons.retry.hidden = !(this.retry && record.uploadKept);
    const phases = phaseTimes(record.timings, record.outcome);
    this.parts.times.textContent = `Ran ${formatDuration(record.durationMs)}${phases.length > 0 ? `: ${phases.join(' · ')}` : ''}.`;
    this.parts.times.hidden = false;
  }

  /**
   * Stops the import: an upload still sending is aborted (the server then never starts it);
   * otherwise the server is asked to cancel, and the modal waits for `importCancelled`.
   */
  async cancel() {
    if (this.finished || this.state === 'cancelling') {
      return;
    }
    this.setState('cancelling');
    const message = this.parts.message.textContent;
    this.parts.message.textContent = STOPPING;
    if (this.upload && !this.upload.sent) {
      this.upload.abort();
      return;
    }
    if (this.upload) {
      // Every byte is sent: the session exists once the server has answered.
      await this.upload.done.catch(() => {});
      if (this.state !== 'cancelling') {
        return;
      }
    }
    const answer = await this.client.cancelImport(this.sessionId);
    // Refused (not this account's import, or its role no longer allows it): the import goes on.
    if (!answer.ok && this.state === 'cancelling') {
      this.setState('running');
      if (this.parts.message.textContent === STOPPING) {
        this.parts.message.textContent = message;
      }
      this.showAlert('warning', `The import could not be cancelled: ${sentence(answer.error)}`);
    }
  }

  hide() {
    this.modal.hide();
  }

  formatETA(seconds) {
    return formatETA(seconds);
  }

  askToCancel() {
    this.parts.confirm.hidden = false;
    this.buttons.cancel.hidden = true;
    this.buttons.keep.focus();
  }

  closeConfirmation(refocus) {
    this.parts.confirm.hidden = true;
    this.buttons.cancel.hidden = this.finished;
    if (refocus && !this.finished) {
      this.buttons.cancel.focus();
    }
  }

  /** Has a screen reader say `text` when it can (the live region is polite). */
  announce(text) {
    this.parts.announce.textContent = text;
  }

  /**
   * The import has ended: its outcome named as the history names it, and announced (`detail`
   * after the name).
   */
  finish(outcome, event, detail = '') {
    const label = outcomeLabel(outcome);
    this.parts.title.textContent = `Import ${label.toLowerCase()}`;
    this.parts.phase.textContent = label;
    this.announce(`Import ${label.toLowerCase()}.${detail}`);
    this.parts.eta.textContent = '';
    this.setState(outcome);
    if (outcome !== 'completed') {
      this.parts.message.textContent = '';
      // An upload that never reached the server has no record.
      if (this.accepted) {
        this.showTimes();
      }
    }
    if (this.accepted) {
      for (const link of this.parts.reports.querySelectorAll('[data-report]')) {
        link.href = reportUrl(this.sessionId, link.dataset.report);
      }
      this.parts.reports.hidden = false;
    }
    this.onFinished(outcome, event);
  }

  showAlert(kind, text) {
    const alert = this.parts.alert;
    alert.className = `alert alert-${kind} mt-3 mb-0`;
    alert.textContent = text;
    alert.hidden = false;
  }

  setBar(progress, percent) {
    progress.setAttribute('aria-valuenow', String(percent));
    progress.firstElementChild.style.width = `${percent}%`;
    if (progress === this.parts.bar) {
      this.parts.percent.textContent = `${percent}%`;
    }
  }

  /** Moving stripes while progress is coming in; a still bar otherwise. */
  setStripes(moving) {
    const bar = this.parts.bar.firstElementChild;
    bar.classList.toggle('progress-bar-animated', moving);
    bar.classList.toggle('progress-bar-striped', moving);
  }

  setState(state) {
    this.state = state;
    this.element.dataset.state = state;
    const finished = this.finished;
    const cancelling = state === 'cancelling';
    this.buttons.cancel.hidden = finished || !this.parts.confirm.hidden;
    this.buttons.cancel.disabled = cancelling;
    this.parts.cancelLabel.textContent = cancelling ? 'Cancelling…' : 'Cancel import';
    this.parts.cancelSpinner.hidden = !cancelling;
    this.buttons.close.hidden = !finished;
    if (finished) {
      this.parts.confirm.hidden = true;
    }
    this.showConnection();
    const bar = this.parts.bar.firstElementChild;
    bar.classList.toggle('bg-success', state === 'completed');
    bar.classList.toggle('bg-danger', state === 'failed');
    bar.classList.toggle('bg-warning', state === 'cancelled');
    if (finished || cancelling) {
      // The focused button may have just been hidden or disabled: keep focus in the dialog.
      (finished ? this.buttons.close : this.element).focus();
    }
  }
}
