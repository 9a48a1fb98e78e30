// Small DOM helpers: elements are built, never parsed from HTML strings, so
// no API text can become markup.

// h('a', {href: '#/x', class: 'y', onclick: f}, 'text', child, [more]) -> element
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// Replace an element's content (nulls skipped, arrays flattened).
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Replace the view's content.
export function show(...children) {
  return fill(document.getElementById('view'), ...children);
}

// A table from column titles and rows of cells.
export function table(titles, rows, attrs) {
  return h('table', attrs || {},
    h('thead', {}, h('tr', {}, titles.map((t) => h('th', {}, t)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

// Numbers the way people read them.
export function num(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return String(v);
  return v.toPrecision(digits || 4).replace(/\.?0+(e|$)/, '$1');
}

export function pct(v) {
  return typeof v === 'number' ? (100 * v).toFixed(1) + '%' : '—';
}

export function duration(s) {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '—';
  if (s < 60) return Math.round(s) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
}

export function when(t) {
  return t ? new Date(t * 1000).toLocaleString() : '—';
}

export function link(href, text) {
  return h('a', { href }, text);
}

// A message in the view's error style (an ApiError keeps the API's words).
export function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e && e.message ? e.message : String(e));
}
