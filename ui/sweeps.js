// Sweeps (POST /v1/sweeps): the list, and one sweep's leaderboard: a row
// per variant (its grid values, mean ± std over the seeds, min, max, n,
// time, its jobs), the CSV, the chart, cancel.
import * as api from './api.js';
import { h, fill, show, table, link, when, errorBox, num, duration } from './dom.js';

function unavailable(e) {
  return e.status === 404 && e.code === 'unknown_route'
    ? h('p', { class: 'muted' }, 'This server has no sweeps (POST /v1/sweeps).') : errorBox(e);
}

export async function renderList(args, page) {
  let sweeps;
  try { sweeps = await api.list('/v1/sweeps'); } catch (e) { show(h('h1', {}, 'Sweeps'), unavailable(e)); page.dataset.loaded = 'true'; return; }
  show(h('h1', {}, 'Sweeps'), sweeps.length
    ? table(['sweep', 'name', 'status', 'metric', 'created'], sweeps.map((s) => [link('#/sweeps/' + s.id, s.id), s.name || '—',
      s.status, s.metric, when(s.created_at)]), { id: 'sweeps-table' })
    : h('p', { class: 'muted' }, 'No sweeps yet.'));
  page.dataset.loaded = 'true';
}

function jobLinks(jobs) {
  return (jobs || []).map((j, i) => [i ? ' ' : '', link('#/jobs/' + j.id, `seed ${j.seed}`),
    j.status && j.status !== 'succeeded' ? ` (${j.status})` : '']);
}

export async function renderDetail(args, page) {
  const id = args[0];
  const body = h('div', {}), chart = h('p', {});
  show(h('h1', {}, 'Sweep ', h('code', {}, id)), body, chart);
  let shownChart = false;
  async function refresh() {
    let s;
    try { s = await api.json('/v1/sweeps/' + id); } catch (e) { fill(body, unavailable(e)); return; }
    const board = s.leaderboard || [];
    const keys = [...new Set(board.flatMap((r) => Object.keys(r.values || {})))];
    const active = !['succeeded', 'failed', 'cancelled', 'completed'].includes(s.status);
    fill(body,
      h('p', {}, `status ${s.status}, metric ${s.metric}`,
        s.progress ? `, ${s.progress.done} of ${s.progress.total} jobs done` : '', ' ',
        active ? h('button', {
          class: 'danger', onclick: async () => {
            try { await api.json(`/v1/sweeps/${id}/cancel`, 'POST'); } catch (e) { alert(e.message); }
            refresh();
          },
        }, 'Cancel sweep') : null),
      table(['rank', ...keys, 'mean ± std', 'min', 'max', 'n', 'time (mean)', 'jobs'],
        board.map((r) => [r.rank, ...keys.map((k) => JSON.stringify((r.values || {})[k])),
          `${num(r.mean)} ± ${num(r.std)}`, num(r.min), num(r.max), r.n, duration(r.seconds_mean), jobLinks(r.jobs)]),
        { id: 'leaderboard' }));
    if (!shownChart && board.some((r) => r.n > 0)) {
      shownChart = true;
      try { fill(chart, h('img', { src: await api.blobUrl(`/v1/sweeps/${id}/chart.png`), alt: 'metric per variant' })); } catch (e) { fill(chart, errorBox(e)); }
      chart.append(h('br'), h('button', {
        class: 'link', onclick: async () => {
          const a = h('a', { href: await api.blobUrl(`/v1/sweeps/${id}/results.csv`), download: id + '.csv' });
          document.body.append(a); a.click(); a.remove();
        },
      }, 'results.csv'));
    }
    if (!active) page.stop();
  }
  await refresh();
  page.every(refresh, 2000);
  page.dataset.loaded = 'true';
}
