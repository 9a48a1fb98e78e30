// Datasets: the list; one dataset's class counts as bars and, for images, a
// few samples (GET /v1/datasets/{id}/samples/{i}.png).
import * as api from './api.js';
import { bars } from './chart.js';
import { h, show, table, link, when, errorBox, num } from './dom.js';

const SAMPLES = 8;

export async function renderList(args, page) {
  let sets;
  try { sets = await api.list('/v1/datasets'); } catch (e) { show(h('h1', {}, 'Datasets'), errorBox(e)); return; }
  show(h('h1', {}, 'Datasets'), sets.length ? table(['dataset', 'name', 'rows', 'input', 'task', 'format', 'created'],
    sets.map((d) => [link('#/datasets/' + d.id, d.id), d.name || '—', d.rows, JSON.stringify(d.input_shape), d.task,
      d.format, when(d.created_at)]), { id: 'datasets-table' })
    : h('p', { class: 'muted' }, 'No datasets yet: upload one with POST /v1/datasets (README).'));
  page.dataset.loaded = 'true';
}

export async function renderDetail(args, page) {
  let d;
  try { d = await api.json('/v1/datasets/' + args[0]); } catch (e) { show(h('h1', {}, 'Dataset'), errorBox(e)); return; }
  const counts = h('canvas', { id: 'class-counts' }), samples = h('div', { class: 'samples', id: 'samples' });
  show(h('h1', {}, 'Dataset ', h('code', {}, d.id)),
    h('p', {}, `${d.name || 'unnamed'}: ${d.rows} rows of ${JSON.stringify(d.input_shape)} ${d.dtype}, ${d.task}, ${d.format}`),
    d.classes ? [h('h2', {}, 'Class counts'), counts] : null,
    d.targets ? [h('h2', {}, 'Targets'), h('p', {}, Object.entries(d.targets).map(([k, v]) => `${k} ${num(v)}`).join(', '))] : null,
    d.input_shape.length === 3 ? [h('h2', {}, 'Samples'), samples] : null,
    d.warnings && d.warnings.length ? [h('h2', {}, 'Warnings'), h('ul', {}, d.warnings.map((w) => h('li', {}, w)))] : null,
    h('h2', {}, 'Summary'), h('pre', {}, JSON.stringify(d, null, 2)));
  if (d.classes) bars(counts, d.classes.map((c) => ({ label: c.name, value: c.count })));
  if (d.input_shape.length === 3) {
    for (let i = 0; i < Math.min(SAMPLES, d.rows); i++) {
      try {
        const url = await api.blobUrl(`/v1/datasets/${d.id}/samples/${i}.png`);
        samples.append(h('img', { src: url, alt: 'sample ' + i, title: 'row ' + i }));
      } catch (e) { samples.append(errorBox(e)); break; }
    }
  }
  page.dataset.loaded = 'true';
}
