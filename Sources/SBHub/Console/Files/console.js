// The built-in console: overview, sessions, one session live. Plain DOM, no framework; all
// text goes in through textContent (never innerHTML), and every request stays on this origin.
import { Switchboard } from '/switchboard.js';

const KEY = 'switchboard.credential';
const main = document.getElementById('main');
const statusLine = document.getElementById('status');
const MAX_ROWS = 500;

let hub = null;
let view = null;  // { name, stop() }

// MARK: DOM helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
}

function duration(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function setStatus(text, kind) {
  statusLine.textContent = text;
  statusLine.className = `status ${kind || ''}`;
}

// MARK: Credential

function credential() { return sessionStorage.getItem(KEY) || ''; }

function makeHub() {
  const old = hub;
  const c = credential();
  let made = null;
  const options = {
    onStatus: (status, detail) => {
      if (made !== hub) return;  // a client being replaced
      if (status === 'open') setStatus(`live · ${detail.instanceId || ''}`, 'ok');
      else if (status === 'reconnecting') setStatus(`reconnecting${detail.delay ? ` in ${(detail.delay / 1000).toFixed(1)}s` : ''}`, 'bad');
      else setStatus(status);
    },
  };
  if (c.includes('.')) options.token = c; else if (c) options.apiKey = c;
  made = new Switchboard(options);
  hub = made;
  old?.close();
  window.__switchboard = hub;  // for the browser tests and the curious
}

async function api(method, path, body) {
  try {
    return await hub.request(method, path, body);
  } catch (error) {
    if (error.status === 401) askForCredential('The hub refused the credential (401).');
    throw error;
  }
}

function askForCredential(message) {
  const dialog = document.getElementById('login');
  document.getElementById('login-error').textContent = message || '';
  if (!dialog.open) dialog.showModal();
  document.getElementById('credential').focus();
}

document.getElementById('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = document.getElementById('credential').value.trim();
  if (!value) return;
  sessionStorage.setItem(KEY, value);
  document.getElementById('login').close();
  document.getElementById('credential').value = '';
  makeHub();
  route();
});

document.getElementById('signout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  makeHub();
  askForCredential();
});

// MARK: Overview

function chart(title, samples, key, unit) {
  const values = samples.map((s) => s[key]);
  const last = values.length ? values[values.length - 1] : 0;
  const peak = Math.max(0, ...values);
  const max = Math.max(1, peak);  // the scale: a flat zero line stays at the bottom
  const w = 300, hgt = 90;
  const graph = svg('svg', { viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `${title}: ${last} ${unit} now, peak ${peak} over the last ${samples.length} samples` });
  if (values.length > 1) {
    const step = w / (values.length - 1);
    const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 4 - (v / max) * (hgt - 10)).toFixed(1)}`);
    graph.append(svg('polygon', { class: 'area', points: `0,${hgt} ${pts.join(' ')} ${w},${hgt}` }));
    graph.append(svg('polyline', { class: 'line', points: pts.join(' ') }));
  }
  return h('section', { class: 'card chart' },
    h('h3', { text: title }),
    h('div', { class: 'value', text: `${Math.round(last * 100) / 100} ${unit}` }),
    graph,
    h('div', { class: 'muted', text: `peak ${Math.round(peak * 100) / 100} · last ${duration(samples.length * 2)}` }));
}

// p50 / p99 of live deliveries over the stats window (from acceptance to this instance's socket).
function lagText(lag) {
  const live = lag?.live;
  if (!live || !live.deliveries) return 'no live deliveries lately';
  const ms = (s) => (s < 0.01 ? `${(s * 1000).toFixed(2)} ms` : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(1)} s`);
  return `p50 ${ms(live.p50)} · p99 ${ms(live.p99)} (${live.deliveries} in ${duration(lag.windowSeconds)})`;
}

function overview() {
  let timer = null;
  let stopped = false;
  const render = (stats) => {
    const samples = stats.history?.samples || [];
    const me = h('section', { class: 'card' }, h('h2', { text: 'This instance' }), facts([
      ['Instance', stats.instanceId],
      ['Uptime', duration(stats.uptimeSeconds)],
      ['Storage', stats.storage],
      ['Redis', stats.storage === 'redis' ? `${stats.redis?.connected ? 'connected' : 'DOWN'}, ${stats.redis?.subscribed ? 'subscribed' : 'not subscribed'}` : 'not used'],
      ['Connections', `${stats.connections} (${stats.websockets} WebSocket, ${stats.streams} SSE)`],
      ['Subscriptions', stats.subscriptions],
      ['Events accepted', stats.totals?.eventsAccepted],
      ['Deliveries', stats.totals?.deliveries],
      ['Delivery lag', lagText(stats.deliveryLag)],
    ]));
    const rows = (stats.instances || []).map((i) => h('tr', {},
      h('td', { text: i.instanceId }), h('td', { text: duration(i.uptimeSeconds || 0) }), h('td', { text: i.storage }),
      h('td', { text: i.storage === 'redis' ? (i.redis?.connected ? 'connected' : 'down') : '—' }),
      h('td', { class: 'num', text: i.connections }), h('td', { class: 'num hide-narrow', text: i.subscriptions }),
      h('td', { class: 'hide-narrow', text: time(i.lastSeenAt) })));
    const instances = h('section', { class: 'card' }, h('h2', { text: `Instances (${rows.length})` }),
      h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Instance', 'Uptime', 'Storage', 'Redis'].map((t) => h('th', { scope: 'col', text: t })),
          h('th', { scope: 'col', class: 'num', text: 'Conns' }), h('th', { scope: 'col', class: 'num hide-narrow', text: 'Subs' }),
          h('th', { scope: 'col', class: 'hide-narrow', text: 'Last seen' }))),
        h('tbody', {}, rows))));
    main.replaceChildren(
      h('h2', { text: 'Overview' }),
      h('div', { class: 'grid' }, me, instances),
      h('h2', { text: 'Last minutes' }),
      h('div', { class: 'grid' },
        chart('Events accepted', samples, 'eventsPerSecond', '/s'),
        chart('Deliveries', samples, 'deliveriesPerSecond', '/s'),
        chart('Connections', samples, 'connections', ''),
        chart('Subscriptions', samples, 'subscriptions', '')));
  };
  const poll = async () => {
    try {
      render(await api('GET', '/api/stats'));
    } catch (error) {
      if (error.status !== 401) main.replaceChildren(h('p', { class: 'error', text: `stats unavailable: ${error.message}` }));
    }
    if (!stopped) timer = setTimeout(poll, 2000);
  };
  poll();
  return { stop() { stopped = true; clearTimeout(timer); } };
}

// MARK: Sessions

function sessions() {
  let list = [];
  let sort = { key: 'startedAt', dir: -1 };
  let filter = '';
  let timer = null;
  let stopped = false;
  const columns = [
    ['id', 'Session'], ['status', 'Status'], ['cwd', 'cwd'], ['startedAt', 'Started'], ['lastSeq', 'Events'], ['chainsCount', 'Chains'],
  ];
  const search = h('input', { type: 'search', id: 'filter', placeholder: 'Filter by id, status or cwd', 'aria-label': 'Filter sessions',
    oninput: (e) => { filter = e.target.value.toLowerCase(); draw(); } });
  const count = h('span', { class: 'muted', role: 'status' });
  const table = h('table', { id: 'sessions' });
  const draw = () => {
    const shown = list.filter((s) => !filter || [s.id, s.status, s.cwd].some((v) => String(v ?? '').toLowerCase().includes(filter)))
      .sort((a, b) => {
        const x = a[sort.key] ?? '', y = b[sort.key] ?? '';
        return (x < y ? -1 : x > y ? 1 : 0) * sort.dir;
      });
    count.textContent = `${shown.length} of ${list.length} sessions`;
    const head = h('tr', {}, columns.map(([key, label]) => h('th', {
      scope: 'col', class: ['lastSeq', 'chainsCount'].includes(key) ? 'num' : (key === 'cwd' ? 'hide-narrow' : null),
      'aria-sort': sort.key === key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none',
    }, h('button', { type: 'button', text: label, onclick: () => {
      sort = { key, dir: sort.key === key ? -sort.dir : 1 };
      draw();
    } }))));
    const body = shown.map((s) => h('tr', { 'data-session': s.id },
      h('td', {}, h('a', { href: `#/session/${encodeURIComponent(s.id)}`, text: s.id })),
      h('td', {}, h('span', { class: `badge ${s.status}`, text: s.status })),
      h('td', { class: 'hide-narrow', text: s.cwd }),
      h('td', { text: time(s.startedAt) }),
      h('td', { class: 'num', text: s.lastSeq ?? 0 }),
      h('td', { class: 'num', text: s.chainsCount ?? 0 })));
    table.replaceChildren(h('thead', {}, head), h('tbody', {}, body));
  };
  const load = async () => {
    try {
      list = (await api('GET', '/api/sessions')).sessions || [];
      draw();
    } catch (error) {
      if (error.status !== 401) count.textContent = `sessions unavailable: ${error.message}`;
    }
    if (!stopped) timer = setTimeout(load, 3000);
  };
  main.replaceChildren(h('h2', { text: 'Sessions' }),
    h('div', { class: 'toolbar' }, search, h('button', { type: 'button', text: 'Refresh', onclick: () => { clearTimeout(timer); load(); } }), count),
    h('div', { class: 'scroll' }, table));
  load();
  return { stop() { stopped = true; clearTimeout(timer); } };
}

// MARK: One session

function session(id) {
  const events = h('ol', { class: 'events', id: 'events', 'aria-live': 'polite', 'aria-label': 'Events' });
  const state = h('dl', { class: 'facts' });
  const chains = h('div', { id: 'chains' }, h('p', { class: 'muted', text: 'Loading…' }));
  const watching = h('div', { id: 'presence', 'aria-live': 'polite' }, h('p', { class: 'muted', text: 'Loading…' }));
  const watchingTitle = h('h3', { text: 'Watching' });
  // Who is subscribed to this session (this console included), on every instance.
  const showPresence = (clients) => {
    const count = hub.presenceOf(id)?.count ?? clients.length;
    watchingTitle.textContent = `Watching (${count})`;
    watching.replaceChildren(clients.length ? h('ul', { class: 'presence' }, clients.slice(0, 200).map((c) => h('li', { 'data-client': c.clientId },
      h('strong', { text: c.info?.sub || (c.clientId === hub.clientId ? 'this console' : 'API key') }),
      h('span', { class: 'muted', text: ` ${c.instanceId} · since ${time(c.since)}` }),
      c.info?.info ? h('code', { text: ` ${JSON.stringify(c.info.info)}` }) : '')))
      : h('p', { class: 'muted', text: 'Nobody.' }));
  };
  const sent = h('p', { class: 'sent', role: 'status', id: 'sent' });
  let stream = { epoch: '—', recovered: '—', lastSeq: 0, instance: '' };

  const showState = () => state.replaceChildren(...facts([
    ['Epoch', stream.epoch], ['Recovered', String(stream.recovered)], ['Last seq', stream.lastSeq],
  ]).childNodes);
  const notice = (text) => append(h('li', { class: 'notice', text }));
  const append = (li) => {
    const atBottom = events.scrollHeight - events.scrollTop - events.clientHeight < 40;
    events.append(li);
    while (events.children.length > MAX_ROWS) events.firstElementChild.remove();
    if (atBottom) events.scrollTop = events.scrollHeight;
  };

  const command = h('select', { id: 'command-type', 'aria-label': 'Command' },
    ['pause', 'resume', 'cancel', 'abort', 'retry', 'skip'].map((c) => h('option', { value: c, text: c })));
  const payload = h('textarea', { id: 'command-payload', placeholder: '{"reason": "…"} (optional JSON)' });
  const input = h('textarea', { id: 'input-text', placeholder: 'Input for the agent' });
  const prompt = h('input', { id: 'input-prompt', placeholder: 'Prompt (optional)' });
  const sendCommand = async (e) => {
    e.preventDefault();
    let body;
    try { body = payload.value.trim() ? JSON.parse(payload.value) : undefined; } catch { sent.textContent = 'payload is not JSON'; return; }
    try {
      const r = await hub.sendCommand(id, command.value, body);
      sent.textContent = `command ${r.command?.type || command.value} queued (${r.commandId})`;
    } catch (error) { sent.textContent = `not sent: ${error.message}`; }
  };
  const sendInput = async (e) => {
    e.preventDefault();
    try {
      await hub.sendInput(id, input.value, prompt.value || undefined);
      sent.textContent = 'input queued';
      input.value = '';
    } catch (error) { sent.textContent = `not sent: ${error.message}`; }
  };

  main.replaceChildren(
    h('h2', {}, 'Session ', h('code', { text: id })),
    h('div', { class: 'session' },
      h('section', { class: 'card' }, h('h3', { text: 'Events (live)' }), events),
      h('div', { class: 'grid' },
        h('section', { class: 'card' }, h('h3', { text: 'Stream' }), state),
        h('section', { class: 'card' }, h('h3', { text: 'Send' }),
          h('form', { id: 'command-form', onsubmit: sendCommand },
            h('label', { for: 'command-type', text: 'Command' }), command,
            h('label', { for: 'command-payload', text: 'Payload' }), payload,
            h('div', { class: 'actions' }, h('button', { type: 'submit', text: 'Send command' }))),
          h('form', { id: 'input-form', onsubmit: sendInput },
            h('label', { for: 'input-text', text: 'Input' }), input,
            h('label', { for: 'input-prompt', text: 'Prompt' }), prompt,
            h('div', { class: 'actions' }, h('button', { type: 'submit', text: 'Send input' }))),
          sent),
        h('section', { class: 'card' }, watchingTitle, watching),
        h('section', { class: 'card' }, h('h3', { text: 'Chains' }), chains))));
  showState();

  api('GET', `/api/sessions/${encodeURIComponent(id)}`).then((s) => {
    const list = s.chains || [];
    chains.replaceChildren(list.length ? h('ul', {}, list.map((c) => h('li', {},
      h('details', {}, h('summary', { text: c.name || c.id || 'chain' }), h('pre', { text: JSON.stringify(c, null, 2) })))))
      : h('p', { class: 'muted', text: 'No chains.' }));
  }).catch((error) => chains.replaceChildren(h('p', { class: 'muted', text: error.status === 404 ? 'No session record (events only).' : error.message })));

  const subscription = hub.subscribe(id, {
    lastEventId: 0,
    onConfirmed: (info) => {
      stream = { ...stream, epoch: info.epoch, recovered: info.recovered, lastSeq: Math.max(stream.lastSeq, info.lastSeq ?? 0) };
      showState();
    },
    onEvent: (m) => {
      const e = m.payload || {};
      stream.lastSeq = m.seq;
      showState();
      append(h('li', { 'data-seq': m.seq },
        h('details', {},
          h('summary', {}, h('span', { class: 'seq', text: `#${m.seq}` }), h('strong', { text: e.type || 'event' }),
            h('span', { class: 'muted', text: time(e.timestamp) })),
          h('pre', { text: JSON.stringify(e, null, 2) }))));
    },
    onReset: ({ epoch }) => {
      notice(`stream started again (epoch ${epoch}): session deleted or expired`);
      stream = { ...stream, epoch, lastSeq: 0 };
      showState();
    },
    onCommand: (m) => notice(`command ${m.payload?.type || ''} pushed`),
    onInput: () => notice('input pushed'),
    onPresence: (clients) => showPresence(clients),
  });
  return { stop() { subscription.unsubscribe(); } };
}

// MARK: Router

function route() {
  view?.stop();
  const hash = location.hash || '#/';
  let name = 'overview';
  if (hash.startsWith('#/session/')) {
    name = 'session';
    view = session(decodeURIComponent(hash.slice('#/session/'.length)));
  } else if (hash.startsWith('#/sessions')) {
    name = 'sessions';
    view = sessions();
  } else {
    view = overview();
  }
  for (const a of document.querySelectorAll('.top nav a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.getElementById('signout').hidden = !credential();
}

window.addEventListener('hashchange', () => { route(); main.focus(); });
makeHub();
setStatus('ready');
// /health is open: it says whether to ask for a credential before the first request.
fetch('/health').then((r) => r.json()).then((health) => {
  if (health.authRequired && !credential()) askForCredential();
  else route();
}).catch(() => route());
