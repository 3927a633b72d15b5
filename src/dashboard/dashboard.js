// The live dashboard: reads Server-Sent Events from /events (history first, then live) and draws them.
/* global uPlot */
'use strict';

const token = new URLSearchParams(location.search).get('token');
const eventsUrl = token ? `events?token=${encodeURIComponent(token)}` : 'events';

function makeChart(elementId, seriesNames, colours) {
  const element = document.getElementById(elementId);
  const data = [[], ...seriesNames.map(() => [])];
  const chart = new uPlot(
    {
      width: Math.max(element.clientWidth, 420),
      height: 220,
      scales: { x: { time: false } },
      axes: [{ label: 'step' }, {}],
      series: [
        { label: 'step' },
        ...seriesNames.map((label, i) => ({ label, stroke: colours[i], spanGaps: true })),
      ],
    },
    data,
    element,
  );
  return {
    chart,
    points: 0,
    add(x, values) {
      data[0].push(x);
      values.forEach((v, i) => data[i + 1].push(v === undefined ? null : v));
      this.points += 1;
    },
    redraw() {
      chart.setData(data);
    },
  };
}

const charts = {
  loss: makeChart(
    'loss-chart',
    ['step loss', 'epoch train loss', 'epoch validation loss'],
    ['#3b7dd8', '#d8813b', '#2a9d4b'],
  ),
  iou: makeChart('iou-chart', ['running train mIoU', 'epoch validation mIoU'], ['#3b7dd8', '#2a9d4b']),
  throughput: makeChart('throughput-chart', ['images/s'], ['#8a3bd8']),
};
window.segstreamCharts = charts;

const status = document.getElementById('status');
let received = 0;
let dirty = false;

function showClassIoU(perClass) {
  const body = document.querySelector('#class-iou tbody');
  body.replaceChildren(
    ...perClass.map((c) => {
      const row = document.createElement('tr');
      const name = document.createElement('td');
      name.textContent = c.name;
      const value = document.createElement('td');
      value.textContent = Number.isFinite(c.iou) ? c.iou.toFixed(3) : '–';
      const barCell = document.createElement('td');
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${Math.round((Number.isFinite(c.iou) ? c.iou : 0) * 200)}px`;
      barCell.append(bar);
      row.append(name, value, barCell);
      return row;
    }),
  );
}

function showSample(event) {
  const samples = document.getElementById('samples');
  const figure = document.createElement('figure');
  const image = document.createElement('img');
  image.src = `data:image/png;base64,${event.png}`;
  image.alt = `prediction for ${event.id}`;
  const caption = document.createElement('figcaption');
  caption.textContent = `epoch ${event.epoch + 1}, step ${event.globalStep}: ${event.id}`;
  figure.append(caption, image);
  samples.prepend(figure);
  while (samples.children.length > 4) samples.lastChild.remove();
}

function handle(event) {
  received += 1;
  switch (event.type) {
    case 'batch':
      charts.loss.add(event.globalStep, [event.losses.total, undefined, undefined]);
      charts.iou.add(event.globalStep, [event.running.meanIoU, undefined]);
      charts.throughput.add(event.globalStep, [event.imagesPerSecond]);
      status.textContent = `epoch ${event.epoch + 1}, step ${event.globalStep}: loss ${event.losses.total.toFixed(4)}, mIoU ${event.running.meanIoU.toFixed(3)}, ${event.imagesPerSecond.toFixed(1)} img/s`;
      break;
    case 'epoch':
      charts.loss.add(event.globalStep, [undefined, event.trainLoss, event.validationLoss]);
      charts.iou.add(event.globalStep, [undefined, event.validation ? event.validation.meanIoU : undefined]);
      showClassIoU((event.validation || event.train).perClass);
      break;
    case 'sample':
      showSample(event);
      break;
    case 'stopped':
      status.textContent = `stopped (${event.reason}) at epoch ${event.epoch + 1}, step ${event.globalStep}`;
      break;
    default:
      break;
  }
  document.body.dataset.events = String(received);
  dirty = true;
}

// Redraw at most once per animation frame: a late viewer receives the whole history at once.
function redraw() {
  if (dirty) {
    dirty = false;
    for (const chart of Object.values(charts)) chart.redraw();
  }
  requestAnimationFrame(redraw);
}
requestAnimationFrame(redraw);

const source = new EventSource(eventsUrl);
source.onopen = () => {
  if (received === 0) status.textContent = 'connected, waiting for events';
};
source.onmessage = (message) => handle(JSON.parse(message.data));
source.onerror = () => {
  // A reconnect would replay the history on top of what is shown; the run is over or the server gone.
  source.close();
  status.textContent = 'disconnected (run ended or server stopped)';
};
