// The dashboard's router: #/page/arg -> a page module's render(args, page).
// `page` ends with the navigation: its signal aborts event streams and its
// timers stop, so a page never updates a view it no longer owns.
import * as api from './api.js';
import * as jobs from './jobs.js';
import * as newjob from './newjob.js';
import * as compare from './compare.js';
import * as datasets from './datasets.js';
import * as models from './models.js';
import * as sweeps from './sweeps.js';
import { show, errorBox } from './dom.js';

const ROUTES = {
  jobs: (a, p) => (a.length ? jobs.renderDetail(a, p) : jobs.renderList(a, p)),
  new: newjob.render,
  compare: compare.render,
  datasets: (a, p) => (a.length ? datasets.renderDetail(a, p) : datasets.renderList(a, p)),
  models: (a, p) => (a.length ? models.renderDetail(a, p) : models.renderList(a, p)),
  sweeps: (a, p) => (a.length ? sweeps.renderDetail(a, p) : sweeps.renderList(a, p)),
};

let current = null;

function newPage(view) {
  const ctl = new AbortController(), timers = [];
  delete view.dataset.loaded;
  return {
    signal: ctl.signal,
    dataset: view.dataset,
    // Run fn every ms until the page ends (a run still going is not doubled).
    every(fn, ms) {
      let busy = false;
      timers.push(setInterval(async () => {
        if (busy || ctl.signal.aborted) return;
        busy = true;
        try { await fn(); } finally { busy = false; }
      }, ms));
    },
    stop() { timers.forEach(clearInterval); },
    end() { ctl.abort(); this.stop(); },
  };
}

async function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter((s) => s).map(decodeURIComponent);
  const name = ROUTES[parts[0]] ? parts[0] : 'jobs';
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === name));
  if (current) current.end();
  const view = document.getElementById('view');
  const page = current = newPage(view);
  try {
    await ROUTES[name](parts.slice(1), page);
  } catch (e) {
    if (page === current) show(errorBox(e));
  }
}

window.addEventListener('hashchange', route);
route();
api.json('/v1/version').then((v) => {
  document.getElementById('version').textContent = 'v' + (v.version || '');
}).catch(() => {});
