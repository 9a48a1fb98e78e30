// Models: the list; one model's layer table and lineage (base model -> job
// -> this model).
import * as api from './api.js';
import { h, show, table, link, when, errorBox } from './dom.js';

export async function renderList(args, page) {
  let models;
  try { models = await api.list('/v1/models'); } catch (e) { show(h('h1', {}, 'Models'), errorBox(e)); return; }
  show(h('h1', {}, 'Models'), models.length ? table(['model', 'name', 'source', 'input', 'output', 'params', 'created'],
    models.map((m) => [link('#/models/' + m.id, m.id), m.name || '—', m.source, JSON.stringify(m.input_shape),
      JSON.stringify(m.output_shape), m.params, when(m.created_at)]), { id: 'models-table' })
    : h('p', { class: 'muted' }, 'No models yet.'));
  page.dataset.loaded = 'true';
}

export async function renderDetail(args, page) {
  let m;
  try { m = await api.json('/v1/models/' + args[0]); } catch (e) { show(h('h1', {}, 'Model'), errorBox(e)); return; }
  const lineage = [];
  if (m.base_model) lineage.push(link('#/models/' + m.base_model, 'base ' + m.base_model), ' → ');
  if (m.dataset) lineage.push(h('span', {}, '(data ', link('#/datasets/' + m.dataset, m.dataset), ') '));
  if (m.job) lineage.push(link('#/jobs/' + m.job, 'job ' + m.job), ' → ');
  lineage.push(h('strong', {}, m.id));
  show(h('h1', {}, 'Model ', h('code', {}, m.id)),
    h('p', { class: 'lineage', id: 'lineage' }, m.source === 'job' ? lineage : `${m.source}: ${m.name || m.id}`),
    h('p', {}, `${m.task}, input ${JSON.stringify(m.input_shape)} → output ${JSON.stringify(m.output_shape)} ${m.output_activation}; `,
      `${m.params} parameters (${m.trainable_params} trainable)`, m.classes ? `; classes ${m.classes.join(', ')}` : ''),
    h('h2', {}, 'Layers'),
    table(['#', 'name', 'type', 'activation', 'inputs', 'output', 'params', 'trainable'],
      m.layers.map((l) => [l.index, l.name + (l.aliases.length ? ` (${l.aliases.join(', ')})` : ''), l.type, l.activation,
        l.inputs.join(', '), JSON.stringify(l.output_shape), l.params, l.trainable ? 'yes' : 'no']), { id: 'layers-table' }));
  page.dataset.loaded = 'true';
}
