// Compare: 2 to 8 jobs' curves overlaid, and the spec fields where they differ.
import * as api from './api.js';
import { lines, COLORS } from './chart.js';
import { h, show, table, link, errorBox } from './dom.js';
import { metricText } from './jobs.js';

// {"head.hidden": "[64]", ...}: every leaf of the spec by its path.
function flatten(o, prefix, out) {
  for (const [k, v] of Object.entries(o || {})) {
    const p = prefix ? prefix + '.' + k : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, p, out);
    else out[p] = JSON.stringify(v);
  }
  return out;
}

export function specDiff(specs) {
  const flat = specs.map((s) => flatten(s, '', {}));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  return keys.filter((k) => new Set(flat.map((f) => f[k])).size > 1)
    .map((k) => [k, ...flat.map((f) => (k in f ? f[k] : '—'))]);
}

async function picker() {
  const jobs = await api.list('/v1/jobs');
  const chosen = new Set();
  const go = h('button', { id: 'compare-go', disabled: true, onclick: () => { location.hash = '#/compare/' + [...chosen].join(','); } }, 'Compare');
  return [h('p', {}, 'Pick 2 to 8 jobs.'),
    h('ul', { class: 'plain' }, jobs.map((j) => h('li', {}, h('label', {},
      h('input', {
        type: 'checkbox', onchange: (e) => {
          if (e.target.checked) chosen.add(j.id); else chosen.delete(j.id);
          go.disabled = chosen.size < 2 || chosen.size > 8;
        },
      }), ` ${j.name || j.id} (${j.status})`)))), go];
}

export async function render(args, page) {
  const ids = (args[0] || '').split(',').filter((s) => s);
  if (ids.length < 2 || ids.length > 8) {
    try { show(h('h1', {}, 'Compare'), ...(await picker())); } catch (e) { show(h('h1', {}, 'Compare'), errorBox(e)); }
    page.dataset.loaded = 'true';
    return;
  }
  let jobs, metrics;
  try {
    jobs = await Promise.all(ids.map((id) => api.json('/v1/jobs/' + id)));
    metrics = await Promise.all(ids.map((id) => api.json(`/v1/jobs/${id}/metrics`).then((m) => m.data)));
  } catch (e) { show(h('h1', {}, 'Compare'), errorBox(e)); return; }
  const loss = h('canvas', { id: 'compare-loss' }), acc = h('canvas', { id: 'compare-acc' });
  const diff = specDiff(jobs.map((j) => j.spec));
  show(h('h1', {}, `Compare ${jobs.length} jobs`),
    table(['', 'job', 'status', 'metric', 'epochs'], jobs.map((j, i) => [h('span', { class: 'swatch', dataset: { color: i } }),
      link('#/jobs/' + j.id, j.name || j.id), j.status, metricText(j), metrics[i].length])),
    h('h2', {}, 'Loss (solid: train, dashed: validation)'), loss,
    h('h2', {}, 'Accuracy'), acc,
    h('h2', {}, 'Spec differences'),
    diff.length ? table(['field', ...jobs.map((j) => j.name || j.id)], diff, { id: 'spec-diff' })
      : h('p', { id: 'spec-diff' }, 'The specs are the same.'));
  const series = (key, dashed) => metrics.map((rows, i) => ({
    name: (jobs[i].name || jobs[i].id.slice(-6)) + (dashed ? ' val' : ''), color: COLORS[i], dashed,
    points: rows.filter((r) => typeof r[key] === 'number').map((r) => [r.epoch, r[key]]),
  })).filter((s) => s.points.length);
  lines(loss, [...series('train_loss', false), ...series('val_loss', true)], { xlabel: 'epoch' });
  lines(acc, [...series('train_accuracy', false), ...series('val_accuracy', true)], { xlabel: 'epoch' });
  page.dataset.loaded = 'true';
}
