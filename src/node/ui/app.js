// The raftcron dashboard: reads the REST API (docs/rest.md) of the node that serves it, and
// follows its event stream to keep the tables current. Plain JavaScript, no build step.
'use strict';

const state = {
  token: localStorage.getItem('raftcron.token') || '',
  jobs: new Map(),        // "ns/name" -> {job, stats}
  selected: null,         // "ns/name"
  lastEventId: null,
  refreshing: new Set(),
};

const $ = (sel) => document.querySelector(sel);

function headers() {
  const h = {};
  if (state.token) h.Authorization = 'Bearer ' + state.token;
  return h;
}

function showError(text) {
  const p = $('#error');
  p.textContent = text || '';
  p.hidden = !text;
}

async function api(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  const doc = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = doc.error || {};
    throw new Error(`${method} ${path}: ${res.status} ${e.code || ''} ${e.message || ''}`.trim());
  }
  return doc;
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null || text === '' ? '-' : String(text);
  if (cls) td.className = cls;
  return td;
}

function when(t) {
  return t ? t.replace('T', ' ').replace(/\.\d+/, '') : '-';
}

function schedule(job) {
  if (job.cron) return 'cron ' + job.cron + (job.tz ? ' ' + job.tz : '');
  if (job.every) return 'every ' + job.every;
  if (job.at) return 'at ' + when(job.at);
  return '-';
}

// ---- Cluster -------------------------------------------------------------------------------

async function loadCluster() {
  const c = await api('GET', '/v1/cluster');
  $('#node').textContent = `node ${c.node_id} (${c.state})`;
  $('#cluster-summary').textContent =
    `leader ${c.leader_id || 'none'} · term ${c.term} · commit ${c.commit_index} · applied ${c.applied_index}`;
  const tbody = $('#members tbody');
  tbody.replaceChildren(...c.members.map((m) => {
    const tr = document.createElement('tr');
    tr.dataset.member = m.id;
    tr.append(cell(m.id + (m.id === c.leader_id ? ' (leader)' : '')), cell(m.role),
      cell(m.raft_addr), cell(m.rpc_addr), cell(m.reachable ? 'yes' : 'no'), cell(m.match_index));
    return tr;
  }));
}

// ---- Jobs ----------------------------------------------------------------------------------

async function loadJobs() {
  const ns = $('#ns').value;
  const path = ns ? `/v1/namespaces/${encodeURIComponent(ns)}/jobs?limit=200` : '/v1/jobs?limit=200';
  const doc = await api('GET', path);
  state.jobs.clear();
  for (const job of doc.jobs) state.jobs.set(`${job.namespace}/${job.name}`, { job, stats: null });
  const known = new Set([...document.querySelectorAll('#ns option')].map((o) => o.value));
  for (const job of doc.jobs) {
    if (!known.has(job.namespace)) {
      const o = document.createElement('option');
      o.value = o.textContent = job.namespace;
      $('#ns').append(o);
      known.add(job.namespace);
    }
  }
  renderJobs();
  await Promise.all([...state.jobs.keys()].map(loadStats));
}

async function loadStats(key) {
  const entry = state.jobs.get(key);
  if (!entry) return;
  const [ns, name] = key.split('/');
  try {
    entry.stats = await api('GET', `/v1/namespaces/${ns}/jobs/${name}/stats`);
  } catch (e) {
    entry.stats = null;
  }
  renderRow(key);
}

// One job again (an event said it changed): its object and its statistics.
async function refreshJob(key) {
  if (state.refreshing.has(key)) return;
  state.refreshing.add(key);
  setTimeout(async () => {
    state.refreshing.delete(key);
    const [ns, name] = key.split('/');
    try {
      const job = await api('GET', `/v1/namespaces/${ns}/jobs/${name}`);
      const entry = state.jobs.get(key) || { job, stats: null };
      entry.job = job;
      state.jobs.set(key, entry);
      await loadStats(key);
    } catch (e) {
      state.jobs.delete(key);
      document.querySelector(`#jobs tr[data-job="${CSS.escape(key)}"]`)?.remove();
    }
    if (state.selected === key) loadDetail(key);
  }, 150);
}

function renderJobs() {
  const tbody = $('#jobs tbody');
  tbody.replaceChildren();
  for (const key of [...state.jobs.keys()].sort()) renderRow(key);
  $('#jobs-empty').hidden = state.jobs.size > 0;
}

function renderRow(key) {
  const entry = state.jobs.get(key);
  if (!entry) return;
  const { job, stats } = entry;
  const tbody = $('#jobs tbody');
  let tr = tbody.querySelector(`tr[data-job="${CSS.escape(key)}"]`);
  if (!tr) {
    tr = document.createElement('tr');
    tr.dataset.job = key;
    const rows = [...tbody.children];
    const after = rows.find((r) => r.dataset.job > key);
    tbody.insertBefore(tr, after || null);
  }
  const stateText = job.paused ? 'paused' : 'active';
  const last = stats && stats.last_run ? stats.last_run.state : (job.last_outcome || '');
  const next = stats && stats.next && stats.next.length ? when(stats.next[0]) : '-';
  const nameCell = cell(job.name, 'name');
  nameCell.addEventListener('click', () => select(key));
  const actions = document.createElement('td');
  const toggle = document.createElement('button');
  toggle.className = job.paused ? 'resume' : 'pause';
  toggle.textContent = job.paused ? 'Resume' : 'Pause';
  toggle.dataset.job = key;
  toggle.addEventListener('click', () => act(key, job.paused ? 'resume' : 'pause'));
  const now = document.createElement('button');
  now.className = 'run-now';
  now.textContent = 'Run now';
  now.dataset.job = key;
  now.addEventListener('click', () => act(key, 'run-now'));
  actions.append(toggle, ' ', now);
  tr.replaceChildren(cell(job.namespace), nameCell, cell(schedule(job)),
    cell(stateText, 'state state-' + stateText), cell(last, 'last state-' + last), cell(next, 'next'),
    cell(stats ? stats.runs_total : job.runs_total), cell(stats ? stats.failed + stats.timed_out + stats.lost : job.runs_failed),
    actions);
  tr.classList.toggle('selected', state.selected === key);
  $('#jobs-empty').hidden = true;
}

async function act(key, verb) {
  const [ns, name] = key.split('/');
  try {
    showError('');
    const doc = await api('POST', `/v1/namespaces/${ns}/jobs/${name}:${verb}`, verb === 'run-now' ? {} : undefined);
    if (doc && doc.name) {
      state.jobs.get(key).job = doc;
      renderRow(key);
    }
  } catch (e) {
    showError(e.message);
  }
}

// ---- One job -------------------------------------------------------------------------------

function select(key) {
  state.selected = key;
  document.querySelectorAll('#jobs tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.job === key));
  loadDetail(key);
}

async function loadDetail(key) {
  const [ns, name] = key.split('/');
  $('#detail-panel').hidden = false;
  $('#detail-name').textContent = key;
  const [stats, runs, decisions] = await Promise.all([
    api('GET', `/v1/namespaces/${ns}/jobs/${name}/stats`),
    api('GET', `/v1/namespaces/${ns}/jobs/${name}/runs?limit=25`),
    api('GET', `/v1/namespaces/${ns}/jobs/${name}/decisions?limit=25`),
  ]);
  const box = $('#detail-stats');
  const items = [['runs', stats.runs_total], ['succeeded', stats.succeeded], ['failed', stats.failed],
    ['timed out', stats.timed_out], ['lost', stats.lost], ['dead', stats.dead], ['missed', stats.missed],
    ['skipped', stats.skipped], ['mean', stats.durations.mean_us / 1000 + ' ms'],
    ['p95', stats.durations.p95_us / 1000 + ' ms'], ['next', stats.next.length ? when(stats.next[0]) : '-']];
  box.replaceChildren(...items.map(([k, v]) => {
    const d = document.createElement('div');
    const s = document.createElement('span');
    s.textContent = k;
    d.append(s, String(v));
    return d;
  }));
  $('#runs tbody').replaceChildren(...runs.runs.map((r) => {
    const tr = document.createElement('tr');
    tr.append(cell(r.id), cell(when(r.scheduled_at)), cell(r.state, 'state-' + r.state), cell(r.attempt),
      cell(r.worker), cell(when(r.started_at)), cell(when(r.finished_at)), cell(r.exit_code),
      cell(r.end_reason || r.error || r.wait_reason));
    return tr;
  }));
  $('#decisions tbody').replaceChildren(...decisions.decisions.map((d) => {
    const tr = document.createElement('tr');
    tr.append(cell(d.id), cell(d.decision), cell(d.reason), cell(when(d.first)), cell(when(d.last)),
      cell(d.count), cell(d.run_id || ''), cell(when(d.decided_at)));
    return tr;
  }));
}

// ---- Live updates: the event stream, read with fetch so that it can carry the token ---------

function logEvent(e) {
  const li = document.createElement('li');
  li.textContent = `${e.index} ${e.type} ${e.namespace}/${e.job}${e.run_id ? ' run ' + e.run_id : ''}`;
  const list = $('#events');
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
}

function onEvent(type, data) {
  if (type === 'gap') {
    loadJobs().catch((e) => showError(e.message));
    return;
  }
  const e = JSON.parse(data);
  logEvent(e);
  const key = `${e.namespace}/${e.job}`;
  const ns = $('#ns').value;
  if (ns && e.namespace !== ns) return;
  if (e.type === 'job.deleted') {
    state.jobs.delete(key);
    document.querySelector(`#jobs tr[data-job="${CSS.escape(key)}"]`)?.remove();
    return;
  }
  if (e.type.startsWith('job.') || e.type !== 'run.started') refreshJob(key);
}

async function follow() {
  const live = $('#live');
  for (;;) {
    try {
      const h = headers();
      if (state.lastEventId) h['Last-Event-ID'] = state.lastEventId;
      const res = await fetch('/v1/events', { headers: h });
      if (!res.ok) throw new Error('events: ' + res.status);
      live.textContent = 'live';
      live.classList.add('on');
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      let ev = { type: 'message', data: '', id: null };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === '') {
            if (ev.data) onEvent(ev.type, ev.data);
            if (ev.id) state.lastEventId = ev.id;
            ev = { type: 'message', data: '', id: null };
          } else if (line.startsWith('event: ')) ev.type = line.slice(7);
          else if (line.startsWith('data: ')) ev.data += line.slice(6);
          else if (line.startsWith('id: ')) ev.id = line.slice(4);
        }
      }
    } catch (e) {
      // the node went away or refused: try again shortly, resuming after the last id
    }
    live.textContent = 'reconnecting';
    live.classList.remove('on');
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function start() {
  $('#token').value = state.token;
  $('#auth').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('#token').value.trim();
    localStorage.setItem('raftcron.token', state.token);
    refreshAll();
  });
  $('#ns').addEventListener('change', () => loadJobs().catch((e) => showError(e.message)));
  await refreshAll();
  setInterval(() => loadCluster().catch(() => {}), 5000);
  follow();
}

async function refreshAll() {
  try {
    showError('');
    await Promise.all([loadCluster(), loadJobs()]);
    document.body.dataset.loaded = 'true';
  } catch (e) {
    showError(e.message);
  }
}

start();
