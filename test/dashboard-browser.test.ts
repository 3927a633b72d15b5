import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { httpSink } from '../src/sinks/httpSink.js';
import { PROJECT_ROOT } from './helpers/data.js';
import { batchEvent, epochEvent } from './helpers/metricEvents.js';
import { testUnlessMissing } from './helpers/skips.js';

/** Debian's Chromium (what .ci/run installs), or the browser that CHROMIUM_PATH names. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT_DIR = join(PROJECT_ROOT, 'out', 'test-screenshots');

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

// Page-side expressions as strings: the test is compiled without the DOM library.
const LOSS_POINTS = 'window.segstreamCharts.loss.chart.data[0].length';
const lossPoints = (page: Page): Promise<number> => page.evaluate(LOSS_POINTS);
const eventsShown = (count: number): string => `document.body.dataset.events === '${count}'`;

/**
 * Polls a page-side boolean expression from Node until it holds. Not `page.waitForFunction`: that evaluates
 * string predicates with eval inside the page, which the dashboard's Content-Security-Policy forbids (newer
 * Chromium enforces it there); `page.evaluate` of an expression goes through the DevTools protocol instead.
 */
async function waitUntil(page: Page, expression: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}`);
    await page.waitForTimeout(20);
  }
}

const chromiumMissing = existsSync(CHROMIUM)
  ? undefined
  : `needs Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH), not found`;

testUnlessMissing(
  'the dashboard loads, replays history for late viewers and updates its charts as events arrive',
  chromiumMissing,
  async () => {
    // The browser first: one that fails to start then fails the test without leaving a server that keeps the process alive.
    const browser = await launch();
    const sink = httpSink({ port: 0 });
    try {
      const url = await sink.listening;
      for (let step = 0; step < 5; step++) sink.write(batchEvent(step, 1 / (step + 1)));
      const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      const first = await context.newPage();
      const errors: string[] = [];
      first.on('pageerror', (e) => errors.push(String(e)));
      await first.goto(url);
      await waitUntil(first, eventsShown(5));
      await waitUntil(first, `${LOSS_POINTS} === 5`);

      for (let step = 5; step < 12; step++) sink.write(batchEvent(step, 1 / (step + 1)));
      sink.write(epochEvent(0, 12));
      const png = await sharp({
        create: { width: 96, height: 32, channels: 3, background: { r: 30, g: 160, b: 60 } },
      })
        .png()
        .toBuffer();
      sink.write({
        type: 'sample',
        epoch: 0,
        globalStep: 12,
        id: 'tile-7',
        png: png.toString('base64'),
        width: 96,
        height: 32,
      });
      await waitUntil(first, eventsShown(14));
      assert.is(await lossPoints(first), 13, '12 steps and one epoch point on the loss chart');
      const rows = await first.locator('#class-iou tbody tr').allTextContents();
      assert.equal(
        rows.map((r) => r.trim()),
        ['background0.850', 'building "main"0.300'],
      );
      assert.match((await first.locator('#status').textContent()) ?? '', /step 11: loss 0\.0833/);
      assert.is(await first.locator('#samples img').count(), 1);

      // A second viewer arriving now sees the same history.
      const late = await context.newPage();
      await late.goto(url);
      await waitUntil(late, eventsShown(14));
      assert.is(await lossPoints(late), 13);
      assert.is(sink.viewerCount, 2);
      assert.equal(errors, []);

      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      const path = join(SCREENSHOT_DIR, 'dashboard.png');
      await first.waitForTimeout(100);
      await first.screenshot({ path, fullPage: true });
      console.log(`dashboard screenshot: ${path}`);
      await context.close();
    } finally {
      await browser.close();
      await sink.close();
    }
  },
);

test.run();
