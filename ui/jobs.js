// Jobs: the live list, and one job's page (curves over SSE, events,
// warnings, spec, confusion matrix, downloads).
import * as api from './api.js';
import { lines, heatmap } from './chart.js';
import { h, fill, show, table, num, pct, duration, when, link, errorBox } from './dom.js';

const ACTIVE = ['queued', 'running'];
const LOG_LIMIT = 300;

// The figure a job is judged by: test, else validation, else training.
function jobMetric(job) {
  const t = job.test_metrics, m = job.metrics || {};
  if (t && typeof t.accuracy === 'number') return ['test acc', t.accuracy];
  if (t && typeof t.mae === 'number') return ['test mae', t.mae];
  for (const k of ['val_accuracy', 'train_accuracy', 'val_mae', 'train_mae', 'val_loss', 'train_loss'])
    if (typeof m[k] === 'number') return [k.replace('_accuracy', ' acc'), m[k]];
  return null;
}

export function metricText(job) {
  const m = jobMetric(job);
  if (!m) return '—';
  return m[0] + ' ' + (m[0].endsWith('acc') ? pct(m[1]) : num(m[1]));
}

// The best epoch of a job's metric rows: by validation accuracy, else
// training accuracy (higher is better), else MAE or loss (lower is better).
const BEST_KEYS = [['val_accuracy', 1], ['train_accuracy', 1], ['val_mae', -1], ['train_mae', -1], ['val_loss', -1], ['train_loss', -1]];
export function bestEpoch(rows) {
  for (const [key, sign] of BEST_KEYS) {
    const have = rows.filter((r) => typeof r[key] === 'number');
    if (!have.length) continue;
    const best = have.reduce((a, b) => (sign * b[key] > sign * a[key] ? b : a));
    return { key, value: best[key], epoch: best.epoch };
  }
  return null;
}

function bestText(best) {
  if (!best) return '—';
  const name = best.key.replace('_accuracy', ' acc');
  return h('span', { dataset: { bestEpoch: best.epoch } },
    `${name} ${best.key.endsWith('accuracy') ? pct(best.value) : num(best.value)} @ epoch ${best.epoch}`);
}

function progressCell(job) {
  const p = job.progress;
  if (!p || !p.epochs) return job.status === 'succeeded' ? '100%' : '—';
  const done = ((p.epoch - 1) + (p.steps_per_epoch ? p.step / p.steps_per_epoch : 0)) / p.epochs;
  const share = job.status === 'succeeded' ? 1 : Math.max(0, Math.min(1, done));
  const bar = h('progress', { max: 100, value: Math.round(share * 100) });
  return h('span', { class: 'progress' }, bar, ` epoch ${p.epoch}/${p.epochs}`);
}

export function cancelButton(job, after) {
  if (!ACTIVE.includes(job.status)) return null;
  return h('button', {
    class: 'danger', 'data-cancel': job.id, onclick: async (e) => {
      e.target.disabled = true;
      try { await api.json(`/v1/jobs/${job.id}/cancel`, 'POST'); } catch (err) { alert(err.message); }
      after();
    },
  }, job.cancel_requested ? 'cancelling…' : 'Cancel');
}

export async function renderList(args, page) {
  const selected = new Set();
  const body = h('div', {});
  const compare = h('button', {
    id: 'compare-selected', disabled: true,
    onclick: () => { location.hash = '#/compare/' + [...selected].join(','); },
  }, 'Compare selected');
  show(h('h1', {}, 'Jobs'), h('p', {}, compare, ' ', link('#/new', 'New job')), body);
  // id -> {epoch, best}: a job's metric rows are fetched again only when it has a new epoch.
  const bests = new Map();
  async function refresh() {
    let jobs;
    try { jobs = await api.list('/v1/jobs'); } catch (e) { fill(body, errorBox(e)); return; }
    const stale = jobs.filter((j) => j.metrics && (bests.get(j.id) || {}).epoch !== j.metrics.epoch);
    await Promise.all(stale.map(async (j) => {
      const rows = (await api.json(`/v1/jobs/${j.id}/metrics`)).data;
      bests.set(j.id, { epoch: j.metrics.epoch, best: bestEpoch(rows) });
    })).catch(() => {});
    const rows = jobs.map((j) => [
      h('input', {
        type: 'checkbox', 'aria-label': 'select ' + j.id, checked: selected.has(j.id), onchange: (e) => {
          if (e.target.checked) selected.add(j.id); else selected.delete(j.id);
          compare.disabled = selected.size < 2 || selected.size > 8;
        },
      }),
      link('#/jobs/' + j.id, j.name || j.id),
      h('span', { class: 'status ' + j.status }, j.status + (j.cancel_requested && ACTIVE.includes(j.status) ? ' (cancel requested)' : '')),
      progressCell(j),
      j.status === 'running' && j.progress ? duration(j.progress.eta_seconds) : '—',
      bestText((bests.get(j.id) || {}).best),
      j.test_metrics ? metricText(j) : '—',
      when(j.created_at),
      cancelButton(j, refresh),
    ]);
    fill(body, jobs.length
      ? table(['', 'job', 'status', 'progress', 'ETA', 'best epoch', 'test', 'created', ''], rows, { id: 'jobs-table' })
      : h('p', { class: 'muted' }, 'No jobs yet.'));
    page.dataset.loaded = 'true';
  }
  await refresh();
  page.every(refresh, 1500);
}

function curves(canvas, rows, keys, withLr) {
  const series = keys.filter((k) => rows.some((r) => typeof r[k] === 'number'))
    .map((k) => ({ name: k, points: rows.filter((r) => typeof r[k] === 'number').map((r) => [r.epoch, r[k]]), dashed: k.startsWith('val_') }));
  if (withLr && rows.some((r) => typeof r.lr === 'number'))
    series.push({ name: 'lr', points: rows.filter((r) => typeof r.lr === 'number').map((r) => [r.epoch, r.lr]), right: true, color: '#888', dashed: true });
  if (series.length) lines(canvas, series, { xlabel: 'epoch' });
}

function warningList(warnings) {
  if (!warnings || !warnings.length) return null;
  return h('ul', { class: 'warnings' }, warnings.map((w) =>
    h('li', { class: w.level }, h('strong', {}, w.level + ' ' + w.code), w.param ? ` (${w.param})` : '', ': ' + w.message)));
}

function evalSection(title, m) {
  if (!m) return null;
  const out = [h('h3', {}, title), h('p', {}, `rows ${m.rows}, loss ${num(m.loss)}`,
    typeof m.accuracy === 'number' ? `, accuracy ${pct(m.accuracy)}` : '',
    typeof m.macro_f1 === 'number' ? `, macro F1 ${num(m.macro_f1)}` : '',
    typeof m.mae === 'number' ? `, mae ${num(m.mae)}, rmse ${num(m.rmse)}` : '')];
  const cm = m.confusion_matrix;
  if (cm && cm.matrix) {
    const c = h('canvas', { class: 'heatmap', 'aria-label': title + ' confusion matrix' });
    out.push(c);
    requestAnimationFrame(() => heatmap(c, cm.labels, cm.matrix));
  }
  const per = m.per_class || (cm && cm.per_class);
  if (per) out.push(table(['class', 'precision', 'recall', 'F1', 'support'],
    per.map((p) => [p.label, num(p.precision), num(p.recall), num(p.f1), p.support])));
  return out;
}

// A download through fetch, so that it carries the key.
function download(path, name) {
  return h('button', {
    class: 'link', onclick: async () => {
      try {
        const url = await api.blobUrl(path);
        const a = h('a', { href: url, download: name });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (e) { alert(e.message); }
    },
  }, name);
}

export async function renderDetail(args, page) {
  const id = args[0];
  const head = h('div', {}), chartLoss = h('canvas', { id: 'loss-chart' }), chartAcc = h('canvas', { id: 'acc-chart' });
  const log = h('ol', { id: 'event-log', class: 'events' }), rest = h('div', {});
  show(h('h1', {}, 'Job ', h('code', {}, id)), head,
    h('h2', {}, 'Loss'), chartLoss, h('h2', {}, 'Accuracy / error'), chartAcc,
    rest, h('h2', {}, 'Events'), log);
  let job;
  async function refresh() {
    try { job = await api.json('/v1/jobs/' + id); } catch (e) { fill(head, errorBox(e)); return; }
    const rows = (await api.json(`/v1/jobs/${id}/metrics`)).data;
    const p = job.progress;
    fill(head,
      h('p', {}, h('span', { class: 'status ' + job.status, id: 'job-status' }, job.status), ' ', progressCell(job),
        job.status === 'running' && p ? ` — ETA ${duration(p.eta_seconds)}, ${num(p.samples_per_second)} samples/s` : '',
        ' ', cancelButton(job, refresh)),
      rows.length ? h('p', {}, 'Best: ', bestText(bestEpoch(rows))) : null,
      job.error ? h('p', { class: 'error' }, `${job.error.code}: ${job.error.message}`) : null,
      warningList(job.warnings),
      h('p', {}, 'dataset ', link('#/datasets/' + datasetId(job.spec.dataset), datasetId(job.spec.dataset)),
        job.spec.base_model ? [' — base model ', link('#/models/' + job.spec.base_model, job.spec.base_model)] : '',
        job.result_model ? [' — result ', link('#/models/' + job.result_model, job.result_model)] : ''),
      h('p', { class: 'downloads' }, 'Downloads: ',
        job.result_model ? download(`/v1/models/${job.result_model}/content`, job.result_model + '.safetensors') : null,
        download(`/v1/jobs/${id}/metrics?format=csv`, 'metrics.csv'),
        rows.length ? download(`/v1/jobs/${id}/metrics.png`, 'metrics.png') : null,
        job.test_metrics || job.validation_metrics ? [download(`/v1/jobs/${id}/confusion.png`, 'confusion.png'),
          download(`/v1/jobs/${id}/confusion.csv`, 'confusion.csv')] : null));
    curves(chartLoss, rows, ['train_loss', 'val_loss'], true);
    curves(chartAcc, rows, ['train_accuracy', 'val_accuracy', 'train_mae', 'val_mae'], false);
    fill(rest,
      ...(evalSection('Test', job.test_metrics) || []), ...(evalSection('Validation (final weights)', job.validation_metrics) || []),
      h('h2', {}, 'Spec'), h('pre', { id: 'job-spec' }, JSON.stringify(job.spec, null, 2)));
  }
  await refresh();
  // Every event redraws (throttled): epochs, phases, the end.
  let pending = null;
  const onEvent = (ev) => {
    if (ev.event === 'message' && ev.data && typeof ev.data === 'object') {
      log.append(h('li', { class: ev.data.level }, h('time', {}, when(ev.data.created_at)), ' ', ev.data.level, ': ', ev.data.message));
      // A long job has thousands of epochs: keep the latest.
      while (log.childElementCount > LOG_LIMIT) log.firstElementChild.remove();
    }
    if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 300);
  };
  api.events(`/v1/jobs/${id}/events`, onEvent, page.signal).catch((e) => {
    if (e.name !== 'AbortError') log.append(h('li', { class: 'error' }, 'event stream: ' + e.message));
  });
  page.dataset.loaded = 'true';
}

export function datasetId(ref) {
  return typeof ref === 'string' ? ref : ref && ref.id;
}
