// gotrickle status page: everything arrives over the websocket at ws
// (relative to this page): a "hello", then "snapshot"s, "event"s, "dropped"
// notices, and binary messages that are JPEG previews. No framework, no
// CDN: the charts are drawn on <canvas> by hand.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const HISTORY = 120; // chart points kept (a minute at 2 snapshots a second)
  const MAX_EVENTS = 100;

  // ---- charts ------------------------------------------------------------

  // Chart draws a few series as lines over the last HISTORY points; a null
  // value leaves a gap.
  class Chart {
    constructor(canvas, series) {
      this.canvas = canvas;
      this.series = series; // [{label, color}]
      this.data = series.map(() => []);
    }

    push(values) {
      values.forEach((v, i) => {
        const d = this.data[i];
        d.push(typeof v === 'number' && isFinite(v) ? v : null);
        if (d.length > HISTORY) d.shift();
      });
      this.draw();
    }

    draw() {
      const c = this.canvas;
      const dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth, h = c.clientHeight;
      if (w === 0 || h === 0) return;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
      }
      const ctx = c.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const left = 40, right = 8, top = 22, bottom = 8;
      const pw = w - left - right, ph = h - top - bottom;
      let max = 0;
      for (const d of this.data) for (const v of d) if (v !== null && v > max) max = v;
      max = niceCeil(max);

      ctx.font = '11px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      ctx.strokeStyle = '#e3e6eb';
      ctx.fillStyle = '#6b7280';
      ctx.lineWidth = 1;
      for (let i = 0; i <= 4; i++) {
        const y = top + ph - (ph * i) / 4;
        ctx.beginPath();
        ctx.moveTo(left, Math.round(y) + 0.5);
        ctx.lineTo(left + pw, Math.round(y) + 0.5);
        ctx.stroke();
        ctx.textAlign = 'right';
        ctx.fillText(fmtAxis((max * i) / 4), left - 6, y);
      }

      const step = pw / (HISTORY - 1);
      this.data.forEach((d, si) => {
        ctx.strokeStyle = this.series[si].color;
        ctx.lineWidth = 2;
        ctx.beginPath();
        let pen = false;
        const x0 = left + pw - (d.length - 1) * step;
        const lone = []; // points with no neighbour to draw a line to
        d.forEach((v, i) => {
          if (v === null) { pen = false; return; }
          const x = x0 + i * step, y = top + ph - (ph * v) / max;
          if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          if (!pen && (i + 1 >= d.length || d[i + 1] === null)) lone.push([x, y]);
          pen = true;
        });
        ctx.stroke();
        ctx.fillStyle = this.series[si].color;
        for (const [x, y] of lone) {
          ctx.beginPath();
          ctx.arc(x, y, 2.5, 0, 2 * Math.PI);
          ctx.fill();
        }
      });

      // Legend with the latest value of each series.
      let x = left;
      ctx.textAlign = 'left';
      this.series.forEach((s, si) => {
        const d = this.data[si];
        let last = null; // the newest value, gaps skipped
        for (let i = d.length - 1; i >= 0 && last === null; i--) last = d[i];
        const text = s.label + ' ' + (last === null ? '–' : fmt(last));
        ctx.fillStyle = s.color;
        ctx.fillRect(x, 6, 10, 10);
        ctx.fillStyle = '#1d2330';
        ctx.fillText(text, x + 14, 11);
        x += 14 + ctx.measureText(text).width + 14;
      });
    }
  }

  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }
  const fmtAxis = (v) => (v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1));
  const fmt = (v) => (v === null || v === undefined ? '–' : v.toFixed(1));

  const fpsChart = new Chart($('fps-chart'), [
    { label: 'ingress video', color: '#2563eb' },
    { label: 'egress video', color: '#16a34a' },
  ]);
  const latencyChart = new Chart($('latency-chart'), [
    { label: 'avg', color: '#7c3aed' },
    { label: 'max', color: '#c4b5fd' },
    { label: 'handler', color: '#d97706' },
  ]);
  window.addEventListener('resize', () => { fpsChart.draw(); latencyChart.draw(); });

  // ---- snapshots -----------------------------------------------------------

  let paramsURL = 'stream/params';

  function onSnapshot(s) {
    const st = s.status || {};
    const badge = $('state');
    badge.textContent = st.state || '?';
    badge.dataset.state = st.state || '';
    $('stream').textContent = st.client_active
      ? (st.client_running ? 'stream running' : 'stream ending')
      : 'no stream';

    const err = $('error-message');
    err.hidden = !st.error_message;
    err.textContent = st.error_message || '';
    const degraded = [];
    if (st.degraded_input) degraded.push('input degraded');
    if (st.degraded_inference) degraded.push('inference degraded');
    $('degraded').hidden = degraded.length === 0;
    $('degraded').textContent = degraded.join(', ');

    const fps = st.fps || null;
    $('ingress-fps').textContent = fps ? fps.ingress_video_fps.toFixed(1) : '–';
    $('egress-fps').textContent = fps ? fps.egress_video_fps.toFixed(1) : '–';
    $('ingress-audio-fps').textContent = fps ? fps.ingress_audio_fps.toFixed(1) : '–';
    $('egress-audio-fps').textContent = fps ? fps.egress_audio_fps.toFixed(1) : '–';
    fpsChart.push(fps ? [fps.ingress_video_fps, fps.egress_video_fps] : [null, null]);

    const lat = s.latency || {};
    if (lat.frames > 0) {
      $('latency-ms').textContent = fmt(lat.processing_avg_ms);
      $('handler-ms').textContent = fmt(lat.handler_avg_ms);
    } else if (!st.client_active) {
      $('latency-ms').textContent = '–';
      $('handler-ms').textContent = '–';
    }
    latencyChart.push([lat.processing_avg_ms, lat.processing_max_ms, lat.handler_avg_ms]);

    renderURLs(st.current_params);
    renderCounters(st.counters);
    renderParams(s.params);
  }

  function renderURLs(cp) {
    const dl = $('urls');
    dl.replaceChildren();
    if (!cp) return;
    for (const [k, label] of [['gateway_request_id', 'request'], ['subscribe_url', 'subscribe'], ['publish_url', 'publish']]) {
      if (!cp[k]) continue;
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = cp[k];
      dl.append(dt, dd);
    }
  }

  function renderCounters(c) {
    const body = $('counters');
    body.replaceChildren();
    if (!c) return;
    for (const [k, v] of Object.entries(c)) {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      name.textContent = k.replace(/_/g, ' ');
      const val = document.createElement('td');
      val.textContent = String(v);
      val.dataset.counter = k;
      tr.append(name, val);
      body.append(tr);
    }
  }

  // ---- the params form -------------------------------------------------

  // A string is shown as it is and sent back as a string; anything else
  // is shown as JSON and parsed back (text that is not JSON stays text).
  const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
  function parse(text, kind) {
    if (kind === 'string') return text;
    try { return JSON.parse(text); } catch (e) { return text; }
  }

  function rowFor(key) {
    for (const tr of $('params-rows').children) if (tr.dataset.key === key) return tr;
    return null;
  }

  function renderParams(params) {
    const rows = $('params-rows');
    const keys = params ? Object.keys(params).sort() : [];
    for (const key of keys) {
      let tr = rowFor(key);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.key = key;
        const th = document.createElement('th');
        const label = document.createElement('label');
        label.textContent = key;
        th.append(label);
        const td = document.createElement('td');
        const input = document.createElement('input');
        input.dataset.key = key;
        input.name = key;
        input.addEventListener('input', () => {
          input.classList.toggle('dirty', input.value !== input.dataset.orig);
        });
        label.addEventListener('click', () => input.focus());
        td.append(input);
        tr.append(th, td);
        // Keep the rows sorted by key.
        const next = [...rows.children].find((r) => r.dataset.key > key);
        rows.insertBefore(tr, next || null);
      }
      const input = tr.querySelector('input');
      const v = params[key];
      const text = show(v);
      input.dataset.kind = typeof v === 'string' ? 'string' : 'json';
      // Never overwrite what the user is editing.
      if (!input.classList.contains('dirty') && document.activeElement !== input) {
        input.value = text;
      }
      input.dataset.orig = text;
      input.classList.toggle('dirty', input.value !== text);
    }
    for (const tr of [...rows.children]) {
      const input = tr.querySelector('input');
      if (!keys.includes(tr.dataset.key) && !input.classList.contains('dirty') && document.activeElement !== input) {
        tr.remove();
      }
    }
    $('params-empty').hidden = rows.children.length > 0;
  }

  function changedParams() {
    const body = {};
    for (const input of $('params-rows').querySelectorAll('input')) {
      if (input.value !== input.dataset.orig) body[input.dataset.key] = parse(input.value, input.dataset.kind);
    }
    const key = $('new-key').value.trim();
    if (key) body[key] = parse($('new-value').value, 'json');
    return body;
  }

  function showResult(text, ok) {
    const out = $('params-result');
    out.textContent = text;
    out.className = ok ? 'ok' : 'error';
  }

  $('params-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = changedParams();
    if (Object.keys(body).length === 0) {
      showResult('Nothing changed.', true);
      return;
    }
    const button = $('params-submit');
    button.disabled = true;
    try {
      const r = await fetch(new URL(paramsURL, location.href), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      let msg = r.statusText;
      try {
        const j = await r.json();
        msg = j.message || j.detail || JSON.stringify(j);
      } catch (e) { /* not JSON: keep the status text */ }
      showResult(r.status + ': ' + msg, r.ok);
      if (r.ok) {
        for (const input of $('params-rows').querySelectorAll('input')) {
          if (input.dataset.key in body) {
            input.dataset.orig = input.value;
            input.classList.remove('dirty');
          }
        }
        $('new-key').value = '';
        $('new-value').value = '';
      }
    } catch (e) {
      showResult('Request failed: ' + e.message, false);
    } finally {
      button.disabled = false;
    }
  });

  $('params-revert').addEventListener('click', () => {
    for (const input of $('params-rows').querySelectorAll('input')) {
      input.value = input.dataset.orig;
      input.classList.remove('dirty');
    }
    $('new-key').value = '';
    $('new-value').value = '';
    showResult('', true);
  });

  // ---- events --------------------------------------------------------------

  function addEvent(m, prepend = true) {
    const li = document.createElement('li');
    const t = document.createElement('time');
    const when = new Date(m.time || Date.now());
    t.dateTime = when.toISOString();
    t.textContent = when.toLocaleTimeString();
    const ev = m.event || {};
    const type = document.createElement('b');
    type.textContent = ev.type || ev.event_type || 'event';
    const queue = document.createElement('span');
    queue.className = 'queue';
    queue.textContent = m.queue || '';
    const rest = Object.assign({}, ev);
    delete rest.type;
    delete rest.timestamp;
    const code = document.createElement('code');
    let text = JSON.stringify(rest);
    if (text.length > 300) text = text.slice(0, 300) + '…';
    code.textContent = text === '{}' ? '' : text;
    li.append(t, type, queue, code);
    const list = $('events');
    if (prepend) list.prepend(li); else list.append(li);
    while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  }

  function addNotice(text) {
    const li = document.createElement('li');
    li.className = 'warn';
    li.textContent = text;
    $('events').prepend(li);
  }

  // ---- preview -------------------------------------------------------------

  let previewURL = null;
  function onPreview(data) {
    const url = URL.createObjectURL(new Blob([data], { type: 'image/jpeg' }));
    const img = $('preview');
    const old = previewURL;
    previewURL = url;
    img.onload = () => { if (old) URL.revokeObjectURL(old); };
    img.onerror = () => { if (old) URL.revokeObjectURL(old); };
    img.src = url;
    img.hidden = false;
    $('preview-none').hidden = true;
  }

  // ---- the websocket -------------------------------------------------------

  let retry = 500;
  function setConn(state, text) {
    const c = $('conn');
    c.dataset.conn = state;
    c.textContent = text;
  }

  function connect() {
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url);
    ws.binaryType = 'blob';
    setConn('connecting', 'connecting…');
    ws.onopen = () => { retry = 500; setConn('open', 'live'); };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') { onPreview(e.data); return; }
      let m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      switch (m.type) {
        case 'hello':
          if (m.title) {
            document.title = m.title + ' status';
            $('title').textContent = m.title;
          }
          if (m.params_url) paramsURL = m.params_url;
          $('events').replaceChildren();
          for (const ev of m.events || []) addEvent(ev);
          break;
        case 'snapshot': onSnapshot(m); break;
        case 'event': addEvent(m); break;
        case 'dropped': addNotice(m.count + ' events missed (this browser was too slow)'); break;
      }
    };
    ws.onclose = () => {
      setConn('closed', 'disconnected, retrying…');
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 5000);
    };
  }
  connect();
})();
