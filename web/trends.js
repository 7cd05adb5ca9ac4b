// The dashboard's trends (GET /api/trends, import-semantics §8): the open findings by severity over
// scan dates, a line per severity, and what each import added, resolved and reopened, a group of
// bars per import. The same figures make a table that screen readers always reach and that "Show
// as table" shows. uPlot (the vendor script, `window.uPlot`) draws the charts.

import { el, fill, messageRow } from './dom.js';
import { formatCount, formatDay } from './format.js';

export const SEVERITIES = [['critical', 'Critical'], ['high', 'High'], ['medium', 'Medium'], ['low', 'Low'], ['info', 'Info']];
export const CHANGES = [['new', 'Added'], ['resolved', 'Resolved'], ['reopened', 'Reopened']];
const COLUMNS = 2 + SEVERITIES.length + CHANGES.length;
const CHART_HEIGHT = 220;
const DAY = 24 * 60 * 60;
/** Bars of one import: each this share of the room between two imports, side by side. */
const BAR_WIDTH = 0.26;
/** The imports the bar chart has room for at least. */
const FEWEST_SLOTS = 4;
/** The fewest pixels between two import labels under the bars. */
const LABEL_SPACING = 90;
/** Steps between the count axis's ticks: whole numbers only. */
const COUNT_STEPS = [1, 2, 5].flatMap((step) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8].map((power) => step * power))
  .sort((a, b) => a - b);

/**
 * The points of the open-findings line: regular imports only (a backfill's counts are the estate
 * when it ran, not on its older scan date), one per scan date, the last import of that date.
 */
export function openLine(points) {
  const byDate = new Map();
  for (const point of points) {
    if (!point.backfill) {
      byDate.set(point.scanDate, point);
    }
  }
  return [...byDate.values()].sort((a, b) => (a.scanDate < b.scanDate ? -1 : a.scanDate > b.scanDate ? 1 : 0));
}

/** Seconds since the epoch at the start of a YYYY-MM-DD day, UTC (the charts' time scale). */
export function daySeconds(day) {
  return Date.parse(`${day}T00:00:00Z`) / 1000;
}

/** A day on the time scale back to YYYY-MM-DD. */
function dayOf(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

/** The line chart's data: scan dates, then one array of open counts per severity. */
export function openLineData(points) {
  const line = openLine(points);
  return [
    line.map((point) => daySeconds(point.scanDate)),
    ...SEVERITIES.map(([severity]) => line.map((point) => point.openBySeverity[severity])),
  ];
}

/** The bar chart's data: import positions 0…n-1, then one array of counts per change. */
export function changeBarsData(points) {
  return [points.map((_, index) => index), ...CHANGES.map(([change]) => points.map((point) => point[change]))];
}

/** An import as the bars' axis and legend name it: its scan date, marked when a backfill. */
export function importLabel(point) {
  return point ? `${formatDay(point.scanDate)}${point.backfill ? ' (backfill)' : ''}` : '–';
}

/** A colour the stylesheet defines as a custom property of the page. */
function cssColour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** An axis of counts, as wide as its longest label. */
function countAxis() {
  return {
    incrs: COUNT_STEPS,
    values: (chart, ticks) => ticks.map(formatCount),
    size(chart, values, axisIndex, cycle) {
      const axis = chart.axes[axisIndex];
      if (cycle > 1) {
        return axis._size;
      }
      const longest = (values ?? []).reduce((wide, value) => (value.length > wide.length ? value : wide), '');
      chart.ctx.font = axis.font[0];
      return Math.ceil(axis.ticks.size + axis.gap + chart.ctx.measureText(longest).width / devicePixelRatio);
    },
  };
}

function openLineChart(uPlot, points, box) {
  const series = SEVERITIES.map(([severity, label]) => {
    const colour = cssColour(`--severity-${severity}`);
    return { label, stroke: colour, width: 2, points: { show: true, size: 6, fill: colour }, value: (chart, count) => formatCount(count) };
  });
  return new uPlot(
    {
      width: box.clientWidth,
      height: CHART_HEIGHT,
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC'),
      scales: {
        // A lone scan date in the middle of a week, rather than uPlot's span of years after it.
        x: {
          range: (chart, min, max) => {
            const dates = chart.data[0];
            return dates.length === 1 ? [dates[0] - 3 * DAY, dates[0] + 3 * DAY] : [min, max];
          },
        },
        y: { range: (chart, min, max) => [0, Math.max(1, max)] },
      },
      series: [{ label: 'Scan date', value: (chart, seconds) => (seconds == null ? '–' : dayOf(seconds)) }, ...series],
      axes: [{}, countAxis()],
    },
    openLineData(points),
    box,
  );
}

function changeBarsChart(uPlot, points, box) {
  const series = CHANGES.map(([change, label], index) => ({
    label,
    fill: cssColour(`--change-${change}`),
    stroke: cssColour(`--change-${change}`),
    width: 0,
    points: { show: false },
    value: (chart, count) => formatCount(count),
    paths: uPlot.paths.bars({
      disp: {
        x0: { unit: 1, values: (chart) => chart.data[0].map((at) => at - (BAR_WIDTH * CHANGES.length) / 2 + index * BAR_WIDTH) },
        size: { unit: 1, values: () => [BAR_WIDTH * 0.9] },
      },
    }),
  }));
  return new uPlot(
    {
      width: box.clientWidth,
      height: CHART_HEIGHT,
      cursor: { points: { show: false } },
      scales: {
        // Room for a few imports at least, so that one or two do not make bars as wide as the chart.
        x: {
          time: false,
          range: () => {
            const spare = Math.max(0, FEWEST_SLOTS - points.length) / 2;
            return [-0.5 - spare, points.length - 0.5 + spare];
          },
        },
        y: { range: (chart, min, max) => [0, Math.max(1, max)] },
      },
      series: [{ label: 'Import', value: (chart, at) => importLabel(points[at]) }, ...series],
      axes: [
        {
          splits: (chart) => {
            const step = Math.ceil(points.length / Math.max(1, Math.floor(chart.bbox.width / devicePixelRatio / LABEL_SPACING)));
            return points.map((_, index) => index).filter((index) => index % step === 0);
          },
          values: (chart, splits) => splits.map((index) => formatDay(points[index]?.scanDate)),
        },
        countAxis(),
      ],
    },
    changeBarsData(points),
    box,
  );
}

/** What a chart shows, for those who cannot see it: its name, its span and its newest figures. */
function describeOpen(points) {
  const line = openLine(points);
  if (line.length === 0) {
    return 'Open findings by severity over scan dates: no regular import yet, only backfills. The table lists their figures.';
  }
  const newest = line.at(-1);
  const counts = SEVERITIES.map(([severity, label]) => `${formatCount(newest.openBySeverity[severity])} ${label.toLowerCase()}`).join(', ');
  return `Open findings by severity over ${line.length} scan date${line.length === 1 ? '' : 's'}, `
    + `${line[0].scanDate} to ${newest.scanDate}; on ${newest.scanDate}: ${counts}. The table lists every figure.`;
}

function describeChanges(points) {
  const total = (change) => formatCount(points.reduce((sum, point) => sum + point[change], 0));
  return `Findings added, resolved and reopened by each of the last ${points.length} import${points.length === 1 ? '' : 's'}: `
    + `${total('new')} added, ${total('resolved')} resolved, ${total('reopened')} reopened in all. The table lists every figure.`;
}

function tableRow(point) {
  return el(
    'tr',
    {},
    el(
      'th',
      { scope: 'row', class: 'text-nowrap fw-normal' },
      formatDay(point.scanDate),
      point.backfill && el('div', { class: 'small text-body-secondary' }, 'backfill'),
    ),
    el('td', { class: 'trends-file small' }, point.fileName),
    SEVERITIES.map(([severity]) => el('td', { class: 'text-end', 'data-severity': severity }, formatCount(point.openBySeverity[severity]))),
    CHANGES.map(([change]) => el('td', { class: 'text-end', 'data-change': change }, formatCount(point[change]))),
  );
}

export class TrendsView {
  constructor(document, api) {
    this.api = api;
    this.charts = document.getElementById('trends-charts');
    this.empty = document.getElementById('trends-empty');
    this.toggle = document.getElementById('trends-toggle');
    this.tableBox = document.getElementById('trends-table-box');
    this.body = document.querySelector('#trends-table tbody');
    this.boxes = { open: document.getElementById('trends-open'), changes: document.getElementById('trends-changes') };
    this.drawn = [];
    this.points = [];
    this.toggle.addEventListener('click', () => {
      const shown = this.tableBox.classList.toggle('visually-hidden') === false;
      this.toggle.setAttribute('aria-expanded', String(shown));
      this.toggle.textContent = shown ? 'Hide the table' : 'Show as table';
    });
    // The charts follow their boxes' width (a rotated phone, a resized window).
    let width = 0;
    new ResizeObserver(() => {
      if (this.boxes.open.clientWidth !== width) {
        width = this.boxes.open.clientWidth;
        this.resize();
      }
    }).observe(this.charts);
  }

  async refresh() {
    try {
      const { points } = await this.api.trends();
      this.show(points);
    } catch (error) {
      this.points = [];
      this.charts.hidden = true;
      this.empty.hidden = false;
      this.empty.textContent = `The trends could not be read: ${error.message}`;
      fill(this.body, messageRow(COLUMNS, 'The trends could not be read.', 'text-danger'));
    }
  }

  show(points) {
    this.points = points;
    const any = points.length > 0;
    this.empty.hidden = any;
    this.empty.textContent = 'No completed import yet: the trends start with the first one.';
    this.charts.hidden = !any;
    this.toggle.hidden = !any;
    fill(this.body, any ? points.map(tableRow) : messageRow(COLUMNS, 'No completed import yet.'));
    this.draw();
  }

  draw() {
    for (const chart of this.drawn) {
      chart.destroy();
    }
    this.drawn = [];
    if (this.points.length === 0 || !window.uPlot) {
      return;
    }
    const charts = [
      [this.boxes.open, openLineChart, describeOpen(this.points)],
      [this.boxes.changes, changeBarsChart, describeChanges(this.points)],
    ];
    for (const [box, make, description] of charts) {
      box.replaceChildren();
      const chart = make(window.uPlot, this.points, box);
      chart.ctx.canvas.setAttribute('role', 'img');
      chart.ctx.canvas.setAttribute('aria-label', description);
      this.drawn.push(chart);
    }
  }

  resize() {
    for (const [index, box] of [this.boxes.open, this.boxes.changes].entries()) {
      this.drawn[index]?.setSize({ width: box.clientWidth, height: CHART_HEIGHT });
    }
  }
}
