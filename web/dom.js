// Building DOM nodes. Children given as strings become text nodes: server data never passes
// through HTML parsing.

import { outcomeLabel } from './format.js';

/**
 * A new element. `attributes`: `class`, `on<event>` listeners, anything else as an attribute
 * (`true` for a bare one; `false`, `null` and `undefined` leave it out).
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) {
      continue;
    }
    if (name === 'class') {
      node.className = value;
    } else if (name.startsWith('on')) {
      node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  node.append(...present(children));
  return node;
}

/** Replaces an element's children. */
export function fill(parent, ...children) {
  parent.replaceChildren(...present(children));
}

/** Children, nested lists flattened, without the left-out ones (`null`, `undefined`, `false`). */
function present(children) {
  return children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false);
}

/** A table row holding one message across all columns (empty, loading or failed). */
export function messageRow(columns, text, kind = 'text-body-secondary') {
  return el('tr', {}, el('td', { colspan: columns, class: `text-center py-4 ${kind}` }, text));
}

const SEVERITY_LABELS = { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low', info: 'Info' };

/** A severity as a coloured badge. */
export function severityBadge(severity) {
  const known = Object.hasOwn(SEVERITY_LABELS, severity);
  return el('span', { class: `badge severity severity-${known ? severity : 'unknown'}` }, known ? SEVERITY_LABELS[severity] : String(severity ?? '–'));
}

const OUTCOME_CLASSES = {
  completed: 'text-bg-success',
  failed: 'text-bg-danger',
  cancelled: 'text-bg-warning',
  interrupted: 'text-bg-secondary',
  queued: 'text-bg-light',
  running: 'text-bg-info',
};

/** An import's outcome as a badge (its `data-outcome` the outcome itself). */
export function outcomeBadge(outcome) {
  return el('span', { class: `badge ${OUTCOME_CLASSES[outcome] ?? 'text-bg-light'}`, 'data-outcome': outcome }, outcomeLabel(outcome));
}
