// One browser scenario against a live server: headless Debian chromium
// driven by playwright-core. Run by tests/api/test_ui.py:
//   node tests/browser/dashboard.js SCENARIO CONFIG_JSON
// CONFIG: {url, key?, shots (a directory), expect: [[status, url regexp]],
// ...the scenario's own fields}. Prints one JSON line: {ok, error, result,
// requests, console, shots}. Every scenario also fails on a console error
// (other than the expected HTTP statuses, which Chromium logs as errors), a
// page error, or a request to anything but the server's origin.
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '../../tools/ci/node_modules/playwright-core'));

const [scenario, configText] = process.argv.slice(2);
const cfg = JSON.parse(configText);
const origin = new URL(cfg.url).origin;
const TIMEOUT = 20000;

// The viewport, or `height` pixels of the full page.
async function shot(page, name, height) {
  const file = path.join(cfg.shots, name + '.png');
  const clip = height ? { x: 0, y: 0, width: 1280, height } : undefined;
  await page.screenshot({ path: file, fullPage: !!height, clip });
  return file;
}

// The view has finished rendering its page.
async function loaded(page, hash) {
  if (hash !== undefined) await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector('#view[data-loaded="true"]', { timeout: TIMEOUT });
}

// Whether a canvas has anything drawn on it.
async function drawn(page, selector) {
  return page.$eval(selector, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
    return false;
  });
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

const SCENARIOS = {
  // Every page renders; the dataset shows counts and sample images, the model its lineage.
  async pages(page) {
    await page.goto(cfg.url + '/');
    await loaded(page);
    check(await page.$('#jobs-table'), 'jobs table');
    const row = `tr:has(a[href="#/jobs/${cfg.job}"]) [data-best-epoch]`;
    await page.waitForSelector(row, { timeout: TIMEOUT });
    const bestEpoch = Number(await page.$eval(row, (e) => e.dataset.bestEpoch));
    const shots = [await shot(page, 'jobs')];
    await loaded(page, '#/datasets');
    check(await page.$('#datasets-table'), 'datasets table');
    await loaded(page, '#/datasets/' + cfg.dataset);
    check(await drawn(page, '#class-counts'), 'class counts drawn');
    await page.waitForFunction(() => [...document.querySelectorAll('#samples img')].filter((i) => i.complete && i.naturalWidth === 28).length >= 4, null, { timeout: TIMEOUT });
    shots.push(await shot(page, 'dataset'));
    await loaded(page, '#/models/' + cfg.model);
    const lineage = await page.textContent('#lineage');
    check(lineage.includes(cfg.base) && lineage.includes(cfg.job), 'lineage: ' + lineage);
    check((await page.$$('#layers-table tbody tr')).length === cfg.layers, 'layer rows');
    await loaded(page, '#/sweeps');
    await loaded(page, '#/jobs/' + cfg.job);
    check(await drawn(page, '#loss-chart') && await drawn(page, '#acc-chart'), 'curves drawn');
    check(await page.$('canvas.heatmap'), 'confusion heatmap');
    const spec = JSON.parse(await page.textContent('#job-spec'));
    check(spec.base_model === cfg.base, 'spec shown');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('button:text("metrics.csv")')]);
    const csv = require('fs').readFileSync(await download.path(), 'utf8');
    check(csv.startsWith('epoch'), 'metrics.csv: ' + csv.slice(0, 40));
    shots.push(await shot(page, 'job'));
    return { lineage, best_epoch: bestEpoch, shots };
  },

  // With --api-key: asked once, kept for the tab (a reload does not ask again).
  async auth(page) {
    await page.goto(cfg.url + '/');
    await page.waitForSelector('#key-dialog[open]', { timeout: TIMEOUT });
    const shots = [await shot(page, 'key')];
    await page.fill('#key-input', 'wrong-' + cfg.key);
    await page.click('#key-form button');
    await page.waitForSelector('#key-error:not([hidden])', { timeout: TIMEOUT });
    await page.fill('#key-input', cfg.key);
    await page.click('#key-form button');
    await loaded(page);
    check(await page.$('#jobs-table'), 'jobs table after the key');
    const stored = await page.evaluate(() => sessionStorage.getItem('finetuned.api_key'));
    check(stored === cfg.key, 'key kept in sessionStorage');
    await page.reload();
    await loaded(page);
    check(!(await page.$('#key-dialog[open]')), 'asked again after reload');
    await loaded(page, '#/jobs/' + cfg.job);
    check(await drawn(page, '#loss-chart'), 'curves with the key');
    await page.waitForFunction(() => document.querySelectorAll('#event-log li').length > 0, null, { timeout: TIMEOUT });
    return { shots };
  },

  // The New job form: a 422 appears beside the field its param names; fixed, it submits.
  async newjob(page) {
    await page.goto(cfg.url + '/#/new');
    await loaded(page);
    await page.selectOption('#f-dataset', cfg.dataset);
    await page.selectOption('[id="f-base_model"]', cfg.base);
    await page.fill('[id="f-drop_layers"]', '2');
    await page.fill('[id="f-optimizer.lr"]', '-1');
    await page.fill('[id="f-epochs"]', '1');
    await page.click('#submit-job');
    const err = page.locator('[data-error-for="optimizer.lr"]');
    await err.filter({ hasText: /./ }).waitFor({ timeout: TIMEOUT });
    const message = await err.textContent();
    const others = await page.$$eval('.field-error', (els) => els.filter((e) => e.textContent && e.dataset.errorFor !== 'optimizer.lr').length);
    check(others === 0, 'other fields marked');
    const shots = [await shot(page, 'new-job-422')];
    await page.fill('[id="f-optimizer.lr"]', '0.05');
    await page.selectOption('#f-freeze', 'trainable_last');
    await page.fill('[id="f-freeze.trainable_last"]', '1');
    await page.click('#submit-job');
    await page.waitForFunction(() => /^#\/jobs\/job_/.test(location.hash), null, { timeout: TIMEOUT });
    const job = (await page.evaluate(() => location.hash)).split('/')[2];
    return { message, job, shots };
  },

  // A running job's progress moves without a reload; cancel from its page.
  async live(page) {
    await page.goto(cfg.url + '/');
    await loaded(page);
    const cell = `tr:has(a[href="#/jobs/${cfg.running}"]) progress`;
    await page.waitForSelector(cell, { timeout: TIMEOUT });
    const first = await page.$eval(`tr:has(a[href="#/jobs/${cfg.running}"])`, (tr) => tr.textContent);
    await page.waitForFunction(([sel, before]) => {
      const tr = document.querySelector(sel);
      return tr && tr.textContent !== before;
    }, [`tr:has(a[href="#/jobs/${cfg.running}"])`, first], { timeout: TIMEOUT });
    await loaded(page, '#/jobs/' + cfg.running);
    await page.waitForFunction(() => document.querySelectorAll('#event-log li').length > 1, null, { timeout: TIMEOUT });
    const shots = [await shot(page, 'running')];
    await page.click(`button[data-cancel="${cfg.running}"]`);
    await page.waitForFunction(() => document.getElementById('job-status').textContent === 'cancelled', null, { timeout: TIMEOUT });
    return { shots };
  },

  // Two jobs picked on the Jobs page open the compare view: curves and the spec differences.
  async compare(page) {
    await page.goto(cfg.url + '/');
    await loaded(page);
    for (const id of cfg.jobs) await page.check(`input[aria-label="select ${id}"]`);
    await page.click('#compare-selected');
    await loaded(page);
    check(await page.evaluate(() => location.hash) === '#/compare/' + cfg.jobs.join(','), 'compare hash');
    check(await drawn(page, '#compare-loss'), 'overlaid curves');
    const rows = await page.$$eval('#spec-diff tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    return { rows, shots: [await shot(page, 'compare')] };
  },

  // The Sweeps page: the list, then one sweep's leaderboard.
  async sweeps(page) {
    await page.goto(cfg.url + '/#/sweeps');
    await loaded(page);
    await page.click(`a[href="#/sweeps/${cfg.sweep}"]`);
    await loaded(page);
    await page.waitForSelector('#leaderboard tbody tr', { timeout: TIMEOUT });
    const rows = await page.$$eval('#leaderboard tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    const heads = await page.$$eval('#leaderboard thead th', (ths) => ths.map((th) => th.textContent));
    const links = await page.$$eval('#leaderboard a', (as) => as.map((a) => a.getAttribute('href')));
    return { rows, heads, links, shots: [await shot(page, 'sweep')] };
  },

  // The README's picture: one finished job's page at a readable size.
  async screenshot(page) {
    await page.goto(cfg.url + '/#/jobs/' + cfg.job);
    await loaded(page);
    await page.waitForFunction(() => document.querySelectorAll('#event-log li').length > 0, null, { timeout: TIMEOUT });
    return { shots: [await shot(page, 'dashboard', 1500)] };
  },
};

async function main() {
  const out = { ok: false, error: null, result: null, requests: [], console: [], shots: [] };
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    const unexpected = [];
    page.on('request', (r) => out.requests.push(r.url()));
    page.on('pageerror', (e) => unexpected.push('page error: ' + e.message));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const at = m.location().url || '', text = m.text();
      const status = (/status of (\d+)/.exec(text) || [])[1];
      const expected = status && (cfg.expect || []).some(([s, re]) => String(s) === status && new RegExp(re).test(at));
      out.console.push({ text, url: at, expected: !!expected });
      if (!expected) unexpected.push('console: ' + text + ' (' + at + ')');
    });
    out.result = await SCENARIOS[scenario](page);
    out.shots = out.result.shots || [];
    const foreign = out.requests.filter((u) => !(u.startsWith(origin + '/') || u.startsWith('blob:' + origin + '/')));
    check(!foreign.length, 'requests leaving the origin: ' + foreign.join(' '));
    check(!unexpected.length, unexpected.join('; '));
    out.ok = true;
  } catch (e) {
    out.error = String(e && e.stack || e);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
