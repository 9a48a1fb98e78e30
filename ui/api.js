// The API client: every call carries the key kept in sessionStorage; the
// first 401 asks for it once (one dialog however many calls were refused).
const KEY = 'finetuned.api_key';
let asking = null;

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = sessionStorage.getItem(KEY);
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}

function askKey(refused) {
  if (asking) return asking;
  const dialog = document.getElementById('key-dialog');
  const form = document.getElementById('key-form');
  const input = document.getElementById('key-input');
  document.getElementById('key-error').hidden = !refused;
  asking = new Promise((resolve) => {
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      dialog.close();
      sessionStorage.setItem(KEY, input.value);
      input.value = '';
      asking = null;
      resolve();
    }, { once: true });
  });
  // Without a key nothing works: Escape does not close it.
  dialog.oncancel = (e) => e.preventDefault();
  if (!dialog.open) dialog.showModal();
  return asking;
}

// fetch with the key; a 401 asks for the key and tries again.
export async function raw(path, opts) {
  opts = opts || {};
  for (;;) {
    const hadKey = sessionStorage.getItem(KEY) !== null;
    const resp = await fetch(path, Object.assign({}, opts, { headers: headers(opts.headers) }));
    if (resp.status !== 401) return resp;
    await askKey(hadKey);
  }
}

// An API error as the API words it: {status, message, param, code}.
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || 'HTTP ' + status);
    this.status = status;
    this.param = e.param || null;
    this.code = e.code || null;
  }
}

// JSON in, JSON out; non-2xx throws ApiError.
export async function json(path, method, body) {
  const opts = { method: method || 'GET' };
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers = { 'Content-Type': 'application/json' };
  }
  const resp = await raw(path, opts);
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// A list route's data array (one page of up to 100).
export async function list(path) {
  const sep = path.includes('?') ? '&' : '?';
  return (await json(path + sep + 'limit=100')).data;
}

// A binary resource as an object URL (an <img> or a download cannot send the key).
export async function blobUrl(path) {
  const resp = await raw(path);
  if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
  return URL.createObjectURL(await resp.blob());
}

// Follow a Server-Sent Events stream with the key (EventSource cannot send
// headers): onEvent({event, id, data}) per event, until the stream ends or
// signal aborts.
export async function events(path, onEvent, signal) {
  const resp = await raw(path, { headers: { Accept: 'text/event-stream' }, signal });
  if (!resp.ok || !resp.body) throw new ApiError(resp.status, null);
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const ev = { event: 'message', id: null, data: '' };
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const field = line.slice(0, colon), val = line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') ev.data += val;
        else if (field === 'event') ev.event = val;
        else if (field === 'id') ev.id = val;
      }
      if (ev.data) {
        try { ev.data = JSON.parse(ev.data); } catch (e) { /* keep the text */ }
        onEvent(ev);
      }
    }
  }
}
