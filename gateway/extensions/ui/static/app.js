// The AirsSys status page: renders the gateway's Server-Sent Events (`status`, `samples`).
// Plain browser JavaScript, no build step. Every value from the gateway goes through textContent:
// OTA details and error reasons are text from outside and must never become markup.
(function () {
  'use strict';
  const WINDOW_S = 300;        // charts keep the last 5 minutes
  const MAX_POINTS = 3000;     // and at most this many points per channel
  const charts = new Map();    // "component/channel" -> { plot, xs, ys, el, last, json }
  const ui = { charts, status: null, samples: 0 };
  window.airssysUi = ui;       // for tests and the curious: the live state of this page

  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    if (props) for (const [k, v] of Object.entries(props)) if (v !== undefined) e[k] = v;
    for (const c of children) e.append(c instanceof Node ? c : String(c ?? ''));
    return e;
  };
  const bytes = (n) => (n >= 1048576 ? (n / 1048576).toFixed(1) + ' MiB' : n >= 1024 ? (n / 1024).toFixed(1) + ' KiB' : n + ' B');
  const duration = (ms) => {
    const s = Math.round(ms / 1000);
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  };
  const clock = (ts) => new Date(ts).toLocaleTimeString();

  function renderStatus(s) {
    ui.status = s;
    document.title = s.gateway.id + ' · AirsSys';
    $('gw-id').textContent = s.gateway.id;
    $('gw-version').textContent = 'v' + s.gateway.version;
    $('gw-groups').textContent = s.gateway.groups.length ? 'groups: ' + s.gateway.groups.join(', ') : '';
    $('gw-uptime').textContent = 'up ' + duration(s.gateway.uptimeMs);

    const b = s.broker;
    const bs = $('broker-state');
    bs.textContent = b.connected ? 'connected' : 'disconnected';
    bs.className = 'big ' + (b.connected ? 'ok-text' : 'bad-text');
    $('broker-url').textContent = b.url;
    $('broker-reconnects').textContent = b.reconnects;
    $('pub-inflight').textContent = s.publisher.inflight;
    $('pub-counts').textContent = s.publisher.published + ' / ' + s.publisher.acked + (s.publisher.refused ? ' (' + s.publisher.refused + ' refused)' : '');

    const o = s.outbox;
    $('outbox-depth').textContent = o.depth;
    $('outbox-bytes').textContent = bytes(o.bytes) + (o.memory ? ' (' + o.memory + ' in memory)' : '');
    $('outbox-oldest').textContent = o.oldestAgeMs === undefined || o.oldestAgeMs === null ? '–' : duration(o.oldestAgeMs);
    const dropped = Object.entries(o.dropped || {}).filter(([, n]) => n > 0);
    $('outbox-dropped').textContent = dropped.length ? dropped.map(([k, n]) => k + ': ' + n).join(', ') : 'none';
    const st = $('outbox-storage');
    st.textContent = o.writable ? 'writable' : 'NOT writable: ' + (o.storageError || 'unknown error');
    st.className = o.writable ? 'ok-text' : 'bad-text';

    const rows = s.components.map((c) =>
      el('tr', { id: 'component-' + c.name },
        el('td', null, el('strong', null, c.name)),
        el('td', null, el('span', { className: 'state ' + c.state }, c.state)),
        el('td', { title: 'sha256 ' + c.sha256 }, c.version),
        el('td', { className: 'num' }, c.restarts),
        el('td', { className: 'num' }, c.events),
        el('td', { className: 'num' }, c.errors + (c.crashes ? ' (' + c.crashes + ' crashes)' : '')),
        el('td', { className: 'num' }, bytes(c.memoryBytes)),
        el('td', { className: 'error' }, c.lastError ? clock(c.lastError.ts) + ' ' + c.lastError.state + ': ' + c.lastError.reason : ''),
      ));
    $('components').tBodies[0].replaceChildren(...rows);

    const ota = s.ota.map((e) =>
      el('tr', null,
        el('td', null, clock(e.ts)),
        el('td', null, e.component),
        el('td', null, e.version || '–'),
        el('td', null, el('span', { className: 'state ' + e.phase }, e.phase)),
        el('td', null, e.reason),
        el('td', { className: 'error' }, e.detail),
      ));
    $('ota').tBodies[0].replaceChildren(...ota);
    $('ota-empty').className = 'hint' + (ota.length ? ' hidden' : '');
  }

  function unitOf(component, channel) {
    const c = ui.status && ui.status.components.find((x) => x.name === component);
    const ch = c && c.channels.find((x) => x.name === channel);
    return ch && ch.unit ? ch.unit : '';
  }

  function chartFor(key, component, channel) {
    let c = charts.get(key);
    if (c) return c;
    const last = el('span', { className: 'last' });
    const body = el('div');
    const box = el('div', { className: 'chart', id: 'chart-' + key.replace('/', '--') }, el('h3', null, el('span', null, key), last), body);
    $('charts').append(box);
    $('charts-empty').className = 'hint hidden';
    c = { plot: null, xs: [], ys: [], el: box, body, last, unit: unitOf(component, channel) };
    charts.set(key, c);
    return c;
  }

  function ensurePlot(c, key) {
    if (c.plot || typeof uPlot === 'undefined') return;
    const width = Math.max(300, c.body.clientWidth || 400);
    c.plot = new uPlot({
      width, height: 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{ stroke: '#6b7385', grid: { stroke: '#eef0f4' } }, { stroke: '#6b7385', grid: { stroke: '#eef0f4' }, size: 56 }],
      series: [{}, { label: key, stroke: '#2b6cb0', width: 2, fill: 'rgba(43,108,176,0.08)', points: { show: false } }],
    }, [c.xs, c.ys], c.body);
  }

  function onSamples(batch) {
    const touched = new Set();
    for (const row of batch.rows) {
      const [component, channel, ts, value, json] = row;
      const key = component + '/' + channel;
      const c = chartFor(key, component, channel);
      ui.samples++;
      if (json !== undefined) {
        // publish-json samples have no single number to plot: show the latest document.
        if (!c.json) { c.json = el('pre'); c.body.append(c.json); }
        c.json.textContent = json;
        c.last.textContent = clock(ts);
        continue;
      }
      c.xs.push(ts / 1000);
      c.ys.push(value);
      c.last.textContent = (value === null ? 'null' : String(Math.round(value * 1000) / 1000)) + (c.unit ? ' ' + c.unit : '');
      touched.add(key);
    }
    const horizon = Date.now() / 1000 - WINDOW_S;
    for (const key of touched) {
      const c = charts.get(key);
      let cut = 0;
      while (cut < c.xs.length && (c.xs[cut] < horizon || c.xs.length - cut > MAX_POINTS)) cut++;
      if (cut) { c.xs.splice(0, cut); c.ys.splice(0, cut); }
      ensurePlot(c, key);
      if (c.plot) c.plot.setData([c.xs, c.ys]);
    }
  }

  window.addEventListener('resize', () => {
    for (const c of charts.values()) if (c.plot) c.plot.setSize({ width: Math.max(300, c.body.clientWidth), height: 180 });
  });

  const live = $('live');
  function connect() {
    const es = new EventSource('/api/events');
    es.addEventListener('open', () => { live.textContent = 'live'; live.className = 'pill on'; });
    es.addEventListener('error', () => { live.textContent = 'reconnecting…'; live.className = 'pill off'; });
    es.addEventListener('status', (ev) => renderStatus(JSON.parse(ev.data)));
    es.addEventListener('samples', (ev) => onSamples(JSON.parse(ev.data)));
  }
  connect();
})();
