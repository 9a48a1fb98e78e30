// New job: one field per spec field, with the API's defaults as
// placeholders; only filled fields are sent, so the API fills in the rest.
// A 422 puts the API's message beside the field its `param` names.
import * as api from './api.js';
import { h, show, errorBox } from './dom.js';

// [param, label, kind, default shown, choices]: kind says how the text
// becomes JSON. The defaults are the API's (README, "The job spec").
const FIELDS = [
  ['dataset', 'Dataset', 'dataset', 'required'],
  ['dataset.classes', 'Classes (selector)', 'list', 'all'],
  ['dataset.per_class', 'Rows per class (selector)', 'int', 'all'],
  ['base_model', 'Base model', 'model', 'none: train the architecture below'],
  ['architecture', 'Architecture (without a base model)', 'json', '{"input": [1, 28, 28], "layers": [...]}'],
  ['drop_layers', 'drop_layers', 'int', '1'],
  ['cut_after', 'or cut_after (layer name)', 'text', 'none'],
  ['freeze', 'Freeze', 'choice', 'base', ['base', 'none', 'trainable_last']],
  ['freeze.trainable_last', 'trainable_last k', 'int', 'with freeze = trainable_last'],
  ['head.hidden', 'Head hidden sizes', 'list', 'none'],
  ['head.activation', 'Head activation', 'choice', 'relu', ['relu', 'leaky_relu', 'sigmoid', 'tanh', 'gelu', 'linear']],
  ['head.dropout', 'Head dropout', 'float', '0'],
  ['head.output', 'Head output', 'choice', 'softmax', ['softmax', 'sigmoid', 'linear']],
  ['head.units', 'Head units', 'int', 'from the dataset'],
  ['init', 'Init', 'choice', 'he_normal', ['he_normal', 'he_uniform', 'xavier_normal', 'xavier_uniform', 'lecun_normal', 'zeros', 'torch_default']],
  ['loss', 'Loss', 'choice', 'from the output', ['cross_entropy', 'binary_cross_entropy', 'mse', 'mae', 'huber']],
  ['optimizer.type', 'Optimizer', 'choice', 'sgd', ['sgd', 'adam', 'adamw']],
  ['optimizer.lr', 'Learning rate', 'float', '0.01 (sgd), 0.001 (adam, adamw)'],
  ['optimizer.momentum', 'Momentum (sgd)', 'float', '0.9'],
  ['epochs', 'Epochs', 'int', '10'],
  ['batch_size', 'Batch size', 'int', '64'],
  ['validation.split', 'Validation split', 'float', 'none'],
  ['test', 'Test dataset', 'dataset', 'none'],
  ['seed', 'Seed', 'int', '42'],
  ['name', 'Name', 'text', 'none'],
];

function input(f, datasets, models) {
  const [param, , kind, def, choices] = f;
  const attrs = { name: param, id: 'f-' + param, 'data-param': param };
  if (kind === 'dataset' || kind === 'model' || kind === 'choice') {
    const opts = kind === 'dataset' ? datasets.map((d) => [d.id, `${d.name || d.id} (${d.rows} rows)`])
      : kind === 'model' ? models.map((m) => [m.id, `${m.name || m.id} (${m.layers.length} layers, ${m.source})`])
        : choices.map((c) => [c, c]);
    return h('select', attrs, h('option', { value: '' }, `— ${def} —`), opts.map(([v, t]) => h('option', { value: v }, t)));
  }
  if (kind === 'json') return h('textarea', Object.assign(attrs, { rows: 3, placeholder: def }));
  return h('input', Object.assign(attrs, {
    placeholder: 'default: ' + def,
    inputmode: kind === 'int' || kind === 'float' ? 'decimal' : null,
  }));
}

function value(kind, text) {
  if (kind === 'int' || kind === 'float') return Number(text);
  if (kind === 'list') return text.split(',').map((s) => s.trim()).filter((s) => s).map((s) => (/^-?\d+$/.test(s) ? Number(s) : s));
  if (kind === 'json') return JSON.parse(text);
  return text;
}

// Put v at the dotted path. A selector field turns "dataset" into
// {"id": ...}; a k for trainable_last turns freeze into {"trainable_last": k}.
function put(spec, param, v) {
  const keys = param.split('.');
  let o = spec;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = k === 'dataset' && o[k] !== undefined ? { id: o[k] } : {};
    o = o[k];
  }
  o[keys[keys.length - 1]] = v;
}

export function buildSpec(form) {
  const spec = {};
  for (const f of FIELDS) {
    const el = form.elements[f[0]];
    const text = el.value.trim();
    if (!text) continue;
    // With its k, "trainable_last" is the object; without, the API says what is missing.
    if (f[0] === 'freeze' && text === 'trainable_last' && form.elements['freeze.trainable_last'].value.trim()) continue;
    put(spec, f[0], value(f[2], text));
  }
  return spec;
}

// The field a 422's param names: the longest field param it starts with
// ("head.hidden[0]" -> head.hidden, "dataset.classes[1]" -> dataset.classes).
export function fieldFor(form, param) {
  if (!param) return null;
  let best = null;
  for (const f of FIELDS) {
    const p = f[0];
    if ((param === p || param.startsWith(p + '.') || param.startsWith(p + '[')) && (!best || p.length > best.length)) best = p;
  }
  return best ? form.querySelector(`[data-param="${best}"]`) : null;
}

export async function render(args, page) {
  let datasets, models;
  try {
    [datasets, models] = await Promise.all([api.list('/v1/datasets'), api.list('/v1/models')]);
  } catch (e) { show(h('h1', {}, 'New job'), errorBox(e)); return; }
  const general = h('div', { id: 'form-error' });
  const form = h('form', { id: 'new-job', class: 'spec-form', novalidate: true },
    FIELDS.map((f) => h('div', { class: 'field' },
      h('label', { for: 'f-' + f[0] }, f[1], h('code', {}, f[0])),
      input(f, datasets, models),
      h('span', { class: 'field-error', 'data-error-for': f[0], role: 'alert' }))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'submit-job' }, 'Submit job')),
    general);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    form.querySelectorAll('.field-error').forEach((s) => { s.textContent = ''; });
    form.querySelectorAll('.invalid').forEach((s) => s.classList.remove('invalid'));
    general.replaceChildren();
    let spec;
    try { spec = buildSpec(form); } catch (err) {
      general.replaceChildren(errorBox('architecture: ' + err.message));
      return;
    }
    try {
      const job = await api.json('/v1/jobs', 'POST', spec);
      location.hash = '#/jobs/' + job.id;
    } catch (err) {
      const field = fieldFor(form, err.param);
      if (field) {
        field.classList.add('invalid');
        form.querySelector(`[data-error-for="${field.dataset.param}"]`).textContent = err.message;
        field.focus();
      } else {
        general.replaceChildren(errorBox(err));
      }
    }
  });
  show(h('h1', {}, 'New job'),
    h('p', { class: 'muted' }, 'Empty fields take the API\'s defaults, shown in each field. The whole spec is in README, "The job spec".'),
    form);
  page.dataset.loaded = 'true';
}
