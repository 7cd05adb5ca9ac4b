// Formatting helpers with no DOM: the page uses them, and Node's test runner imports them.

/** Seconds left, in human terms: "45s", "1m 30s", "1h 1m 5s"; "" when unknown. */
export function formatETA(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    return '';
  }
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  if (hours > 0) {
    return `${hours}h ${minutes}m ${rest}s`;
  }
  if (minutes > 0) {
    return `${minutes}m ${rest}s`;
  }
  return `${rest}s`;
}

/** A duration in milliseconds: "850 ms", "4.2 s", "1m 30s"; "–" when unknown. */
export function formatDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    return '–';
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  if (ms < 60_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  return formatETA(ms / 1000);
}

const OUTCOMES = {
  queued: 'Queued',
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

/** An import's outcome as every part of the page names it: `interrupted` → "Interrupted". */
export function outcomeLabel(outcome) {
  return OUTCOMES[outcome] ?? String(outcome ?? '–');
}

const PHASES = [['parsing', 'Parsing'], ['loading', 'Loading'], ['processing', 'Processing'], ['finalizing', 'Finalizing']];

/**
 * The time an import spent in each phase, from its record's `timings`: every phase of a completed
 * import; of one that ended early, the phases it reached (those with time spent).
 */
export function phaseTimes(timings, outcome) {
  return PHASES
    .filter(([key]) => outcome === 'completed' || timings?.[key] > 0)
    .map(([key, label]) => `${label} ${formatDuration(timings?.[key])}`);
}

const numbers = new Intl.NumberFormat();

/** A count as the reader's locale writes it (1,234 or 1.234…); "–" when missing. */
export function formatCount(value) {
  return typeof value === 'number' ? numbers.format(value) : '–';
}

const FORMAT_NAMES = {
  tenableIo: 'Tenable.io',
  nessus: 'Nessus',
  qualys: 'Qualys',
  generic: 'Generic CSV',
};

/** A scanner format's name as people say it: `tenableIo` → "Tenable.io"; an unknown one as is. */
export function formatName(format) {
  return format ? (FORMAT_NAMES[format] ?? String(format)) : 'unknown format';
}

/** A size in bytes: "512 B", "1.5 KB", "71.9 MB". */
export function formatBytes(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) {
    return '–';
  }
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A server message as a sentence: "unknown user" → "Unknown user." */
export function sentence(text) {
  const trimmed = String(text ?? '').trim();
  if (trimmed === '') {
    return '';
  }
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** The local calendar date as YYYY-MM-DD (what a date input holds). */
export function localDate(date = new Date()) {
  const pad = (number) => String(number).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** A timestamp (ISO 8601 text) in the reader's locale; "–" when missing. */
export function formatDateTime(text) {
  const date = text ? new Date(text) : null;
  return date && !Number.isNaN(date.getTime())
    ? date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
    : '–';
}

/** A date (YYYY-MM-DD or ISO 8601 text) as it is; "–" when missing. */
export function formatDay(text) {
  return text ? String(text).slice(0, 10) : '–';
}

/**
 * A random (version 4) UUID for a new import session. `crypto.randomUUID` exists only on secure
 * origins (https, localhost); a server reached by plain http on another address gets the same
 * from `getRandomValues`.
 */
export function newSessionId(crypto = globalThis.crypto) {
  if (typeof crypto.randomUUID === 'function') {
    return crypto.randomUUID();
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
