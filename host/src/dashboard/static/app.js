// nomnom-host dashboard: plain DOM, no framework. Everything the server sends (plugin names, reasons,
// headers, payloads) is untrusted and only ever inserted with textContent / setAttribute.
(function () {
  'use strict';

  const POLL_MS = 2000;
  const DLQ_POLL_MS = 5000;
  const REQUEST_TIMEOUT_MS = 8000;
  // A replay or purge of a filter acts on up to 10,000 letters in one request.
  const ACTION_TIMEOUT_MS = 300000;
  const PAGE_SIZE = 50;
  const DLQ_LIMIT = 50;
  const SPARK_W = 120, SPARK_H = 24, SPARK_SLOTS = 31;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const DASH = '—';
  const ADMIN_BUTTONS = ['reload-button', 'dlq-replay-selected', 'dlq-purge-selected',
    'dlq-replay-filter', 'dlq-purge-filter', 'dlq-detail-replay', 'dlq-detail-purge'];
  const PLUGIN_CELLS = ['name', 'version', 'state', 'rate', 'spark', 'lag', 'eta', 'rows',
    'persisted', 'invalid', 'dead-lettered', 'retried', 'last-error'];
  const LETTER_CELLS = ['seq', 'time', 'plugin', 'class', 'subject', 'reason', 'replays'];

  const $ = (id) => document.getElementById(id);

  const state = {
    route: null, admin: { enabled: false, signed_in: false },
    plugins: [], pluginRows: new Map(), pluginPage: 0, pluginChoices: '',
  };
  const poll = { timer: null, running: false, again: false };
  const dlq = {
    filter: {}, before: null, next: null, rows: new Map(), selected: new Set(),
    detailSeq: null, listToken: 0, detailToken: 0, timer: null, busy: false,
  };
  const rowCells = new WeakMap(); // tr -> its cells, so updates need no querySelector

  // ---------- formatting ----------

  const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const decFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
  const smallFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

  const isNum = (n) => typeof n === 'number' && isFinite(n);
  const fmtCount = (n) => (isNum(n) ? intFmt.format(n) : DASH);
  const fmtRate = (n) => (isNum(n) ? (Math.abs(n) < 1 ? smallFmt : decFmt).format(n) : DASH);
  const plural = (n, word) => `${fmtCount(n)} ${word}${n === 1 ? '' : 's'}`;

  function fmtDuration(seconds) {
    if (!isNum(seconds)) return DASH;
    let s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400); s %= 86400;
    const h = Math.floor(s / 3600); s %= 3600;
    const m = Math.floor(s / 60); s %= 60;
    if (d) return `${d}d ${h}h ${m}m ${s}s`;
    if (h) return `${h}h ${m}m ${s}s`;
    return m ? `${m}m ${s}s` : `${s}s`;
  }

  function fmtEta(seconds) {
    if (!isNum(seconds)) return DASH;
    return seconds < 1 ? '<1s' : fmtDuration(Math.ceil(seconds));
  }

  const pad = (n) => String(n).padStart(2, '0');
  const fmtClock = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const fmtDay = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

  // Local time; short drops today's date (and the year of other days).
  function fmtTime(iso, short) {
    const d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return iso || DASH;
    if (!short) return `${fmtDay(d)} ${fmtClock(d)}`;
    return fmtDay(d) === fmtDay(new Date()) ? fmtClock(d) : `${fmtDay(d).slice(5)} ${fmtClock(d)}`;
  }

  function stateTone(text) {
    const s = String(text || '');
    if (s.startsWith('running')) return 'ok';
    if (/^(refused|quarantined|fatal|stuck)/.test(s)) return 'bad';
    if (/^(waiting|restarting|starting|stopping)/.test(s)) return 'warn';
    return 'neutral';
  }

  // ---------- DOM helpers ----------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  const setTitle = (node, title) => { if (node.title !== (title || '')) node.title = title || ''; };

  // Writes only on change so that polling does not churn the DOM.
  function setText(node, text, title) {
    const value = String(text);
    if (node.textContent !== value) node.textContent = value;
    if (title !== undefined) setTitle(node, title);
  }

  const setClass = (node, cls) => { if (node.className !== cls) node.className = cls; };
  const setBadge = (node, text, tone) => { setText(node, text); setClass(node, `badge ${tone}`); };
  const setMessage = (node, text, tone) => { setText(node, text); setClass(node, `message ${tone || ''}`.trim()); };
  const show = (node, visible) => { node.hidden = !visible; };
  const on = (id, type, handler) => $(id).addEventListener(type, handler);

  // Keeps one <tr> per key, reusing and reordering rows instead of rebuilding the table.
  function syncRows(tbody, cache, items, keyOf, create, update) {
    const keep = new Set();
    items.forEach((item, i) => {
      const key = keyOf(item);
      let tr = cache.get(key);
      if (!tr) cache.set(key, tr = create(item));
      update(tr, item);
      keep.add(key);
      const at = tbody.children[i] || null;
      if (at !== tr) tbody.insertBefore(tr, at);
    });
    for (const [key, tr] of cache) {
      if (!keep.has(key)) { tr.remove(); cache.delete(key); }
    }
  }

  function createRow(cellClasses) {
    const tr = document.createElement('tr');
    const cells = {};
    for (const cls of cellClasses) cells[cls] = tr.appendChild(el('td', cls));
    rowCells.set(tr, cells);
    return { tr, cells };
  }

  // Text clipped with an ellipsis by CSS; callers put the full text into the title.
  const clipped = (td) => td.appendChild(el('div', 'clip'));

  // ---------- HTTP ----------

  async function request(path, init, timeoutMs = REQUEST_TIMEOUT_MS) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), timeoutMs);
    let res;
    try {
      res = await fetch(path, Object.assign(
        { credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal }, init));
    } catch (err) {
      throw new Error(err.name === 'AbortError' ? 'request timed out' : 'cannot reach the server');
    } finally {
      clearTimeout(timer);
    }
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const err = new Error((data && data.error) || `HTTP ${res.status}`);
      err.status = res.status;
      err.data = data;
      throw err;
    }
    return data || {};
  }

  const getJSON = (path) => request(path, {});
  const postJSON = (path, body, timeoutMs) => request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Nomnom-Csrf': '1' },
    body: JSON.stringify(body || {}),
  }, timeoutMs);

  // ---------- overview ----------

  // One request at a time; a refresh asked for mid-flight runs right after it.
  function refreshOverview() {
    if (poll.running) { poll.again = true; return; }
    clearTimeout(poll.timer);
    poll.running = true;
    getJSON('/api/overview')
      .then(renderOverview, () => show($('disconnected'), true))
      .catch((err) => console.error(err))
      .then(() => {
        poll.running = false;
        if (poll.again) { poll.again = false; refreshOverview(); }
        else poll.timer = setTimeout(refreshOverview, POLL_MS);
      });
  }

  function renderOverview(data) {
    show($('disconnected'), false);
    setText($('last-update'), fmtClock(new Date()));
    renderHost(data);
    setAdmin(data.admin || {});
    renderDeadLetterCount(data.dead_letters);
    state.plugins = Array.isArray(data.plugins) ? data.plugins : [];
    renderPlugins();
    updatePluginChoices(data.dead_letters);
  }

  function renderHost(data) {
    const host = data.host || {}, nats = data.nats || {}, db = data.database || {};
    setText($('host-version'), host.version || DASH, host.isolation ? `isolation: ${host.isolation}` : '');
    setText($('uptime'), fmtDuration(host.uptime_s), host.started_at ? `started ${fmtTime(host.started_at)}` : '');
    const failed = host.reload_failures ? ` (${fmtCount(host.reload_failures)} failed)` : '';
    setText($('reloads'), fmtCount(host.reloads) + failed);
    setBadge($('nats-state'), nats.connected ? 'connected' : 'disconnected', nats.connected ? 'ok' : 'bad');
    setTitle($('nats-state'), nats.url || '');
    setBadge($('database-state'), db.reachable ? 'reachable' : 'unreachable', db.reachable ? 'ok' : 'bad');
    setTitle($('database-state'), db.url || '');
  }

  function renderDeadLetterCount(info) {
    const node = $('dlq-count');
    if (!info) setText(node, '', '');
    else if (info.total == null) setText(node, '?', info.error || 'unknown');
    else setText(node, fmtCount(info.total), '');
  }

  // Suggestions for the dead-letter plugin filter; rebuilt only when the set of names changes.
  function updatePluginChoices(deadLetters) {
    const names = new Set(state.plugins.map((p) => String(p.name)));
    Object.keys((deadLetters && deadLetters.by_plugin) || {}).forEach((name) => names.add(name));
    const sorted = Array.from(names).sort();
    if (sorted.join('\n') === state.pluginChoices) return;
    state.pluginChoices = sorted.join('\n');
    const list = $('dlq-plugin-list');
    list.textContent = '';
    for (const name of sorted) list.appendChild(el('option')).setAttribute('value', name);
  }

  function renderPlugins() {
    const needle = $('plugin-filter').value.trim().toLowerCase();
    const matching = needle
      ? state.plugins.filter((p) => String(p.name).toLowerCase().includes(needle))
      : state.plugins;
    const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
    state.pluginPage = Math.min(state.pluginPage, pages - 1);
    const start = state.pluginPage * PAGE_SIZE;
    syncRows($('plugins'), state.pluginRows, matching.slice(start, start + PAGE_SIZE),
      (p) => String(p.name), createPluginRow, updatePluginRow);
    show($('plugin-pager'), matching.length > PAGE_SIZE);
    const end = Math.min(start + PAGE_SIZE, matching.length);
    setText($('plugins-page'), `${fmtCount(start + 1)}–${fmtCount(end)} of ${fmtCount(matching.length)}`);
    $('plugins-prev').disabled = state.pluginPage === 0;
    $('plugins-next').disabled = state.pluginPage >= pages - 1;
    renderPluginSummary(matching.length, needle);
  }

  function renderPluginSummary(shown, needle) {
    const tones = state.plugins.map((p) => stateTone(p.state));
    const bad = tones.filter((t) => t === 'bad').length;
    let text = `${plural(tones.length, 'plugin')}, ${fmtCount(tones.filter((t) => t === 'ok').length)} running`;
    if (bad) text += `, ${fmtCount(bad)} with problems`;
    if (needle) text += ` · ${fmtCount(shown)} shown`;
    setText($('plugin-summary'), text);
    show($('plugins-empty'), shown === 0);
    setText($('plugins-empty'), needle ? 'No plugin matches the filter.' : 'No plugins loaded.');
  }

  function createPluginRow(p) {
    const { tr, cells } = createRow(PLUGIN_CELLS);
    tr.setAttribute('data-plugin', String(p.name));
    cells.badge = cells.state.appendChild(el('span', 'badge'));
    cells.nameText = clipped(cells.name);
    cells.errorText = clipped(cells['last-error']);
    cells.rowsText = clipped(cells.rows);
    cells.line = cells.spark.appendChild(createSparkline()).firstChild;
    return tr;
  }

  function updatePluginRow(tr, p) {
    const c = rowCells.get(tr);
    const rate = Array.isArray(p.rate) ? p.rate : [];
    const latest = rate.length ? rate[rate.length - 1].per_s : p.per_s_1m;
    setText(c.nameText, p.name, String(p.name));
    setText(c.version, p.version || DASH);
    setBadge(c.badge, p.state || 'unknown', stateTone(p.state));
    setTitle(c.state, stateTitle(p));
    setText(c.rate, fmtRate(latest), `last minute: ${fmtRate(p.per_s_1m)} msgs/s`);
    updateSparkline(c.spark, c.line, rate);
    updateLag(c.lag, p);
    setText(c.eta, fmtEta(p.eta_s));
    const rows = fmtRows(p.rows_by_table);
    setText(c.rowsText, rows, rows === DASH ? '' : rows);
    setText(c.persisted, fmtCount(p.persisted), `fetched ${fmtCount(p.fetched)}`);
    updateCounter(c.invalid, p.invalid);
    updateCounter(c['dead-lettered'], p.dead_lettered);
    updateCounter(c.retried, p.retried);
    updateLastError(c.errorText, p.last_error);
    tr.classList.toggle('unhealthy', p.healthy === false);
  }

  function stateTitle(p) {
    const lines = [String(p.state || '')];
    if (p.healthy === false) lines.push('not healthy');
    const deaths = Object.entries(p.worker_deaths || {}).map(([sig, n]) => `${sig} ×${n}`);
    if (deaths.length) lines.push(`worker deaths: ${deaths.join(', ')}`);
    return lines.join('\n');
  }

  function updateLag(td, p) {
    const known = isNum(p.pending) || isNum(p.in_flight);
    const lag = known ? (p.pending || 0) + (p.in_flight || 0) : null;
    setText(td, fmtCount(lag), known
      ? `pending ${fmtCount(p.pending)}, in flight ${fmtCount(p.in_flight)}` : 'unknown (NATS down?)');
  }

  function updateCounter(td, value) {
    setText(td, fmtCount(value));
    td.classList.toggle('nonzero', value > 0);
  }

  function fmtRows(byTable) {
    const entries = Object.entries(byTable || {});
    return entries.length ? entries.map(([t, n]) => `${t}: ${fmtCount(n)}`).join(', ') : DASH;
  }

  function updateLastError(node, error) {
    if (!error) return setText(node, '', '');
    const reason = String(error.reason || '');
    setText(node, `${fmtTime(error.time, true)} ${reason}`.trim(), `${fmtTime(error.time)}\n${reason}`);
  }

  function createSparkline() {
    const svg = document.createElementNS(SVG_NS, 'svg');
    const attrs = { width: SPARK_W, height: SPARK_H, viewBox: `0 0 ${SPARK_W} ${SPARK_H}`,
      class: 'sparkline', 'aria-hidden': 'true' };
    Object.entries(attrs).forEach(([k, v]) => svg.setAttribute(k, String(v)));
    const line = svg.appendChild(document.createElementNS(SVG_NS, 'polyline'));
    line.setAttribute('fill', 'none');
    line.setAttribute('points', '');
    return svg;
  }

  function updateSparkline(td, line, rate) {
    const values = rate.map((r) => (isNum(r.per_s) ? r.per_s : 0));
    const max = Math.max(0, ...values);
    // Fixed slot width with the newest point on the right edge, so a short history is not stretched.
    const step = SPARK_W / (Math.max(SPARK_SLOTS, values.length) - 1);
    const offset = SPARK_W - (values.length - 1) * step;
    const points = values.map((v, i) => {
      const y = max > 0 ? SPARK_H - 1 - (v / max) * (SPARK_H - 2) : SPARK_H - 1;
      return `${(offset + i * step).toFixed(1)},${y.toFixed(1)}`;
    }).join(' ');
    if (line.getAttribute('points') !== points) line.setAttribute('points', points);
    setTitle(td, values.length ? `last minute, peak ${fmtRate(max)} msgs/s` : '');
  }

  // ---------- admin ----------

  function setAdmin(admin) {
    const enabled = !!admin.enabled, signedIn = !!admin.signed_in;
    const changed = signedIn !== state.admin.signed_in;
    state.admin = { enabled, signed_in: signedIn };
    show($('login-form'), enabled && !signedIn);
    show($('logout-button'), signedIn);
    show($('admin-off'), !enabled);
    updateAdminButtons();
    // Headers and payloads are only served to a signed-in session: refetch the open letter.
    if (changed && dlq.detailSeq != null) loadDetail(dlq.detailSeq);
  }

  function updateAdminButtons() {
    const hint = state.admin.enabled ? 'sign in with the admin token first' : 'admin actions are off';
    for (const id of ADMIN_BUTTONS) {
      $(id).disabled = !state.admin.signed_in || dlq.busy;
      setTitle($(id), state.admin.signed_in ? '' : hint);
    }
  }

  async function adminPost(path, body, okText) {
    setMessage($('admin-message'), '');
    try {
      await postJSON(path, body);
      if (okText) setMessage($('admin-message'), okText, 'ok');
    } catch (err) {
      setMessage($('admin-message'), err.message, 'error');
    }
    refreshOverview();
  }

  async function onLogin(event) {
    event.preventDefault();
    const input = $('admin-token');
    const token = input.value;
    input.value = '';
    if (!token) return;
    $('login-button').disabled = true;
    await adminPost('/api/login', { token });
    $('login-button').disabled = false;
  }

  // ---------- routing ----------

  function route() {
    const next = location.hash === '#dead-letters' ? 'dead-letters' : 'overview';
    if (next === state.route) return;
    state.route = next;
    for (const name of ['overview', 'dead-letters']) {
      show($(name), name === next);
      $(`tab-${name}`).classList.toggle('active', name === next);
      $(`tab-${name}`).setAttribute('aria-current', name === next ? 'page' : 'false');
    }
    if (next === 'dead-letters') loadDeadLetters();
    else clearTimeout(dlq.timer);
  }

  // pushState instead of following the link: the browser would scroll to the section anchor.
  function navigate(hash) {
    if (location.hash !== hash) history.pushState(null, '', hash);
    else if (hash === '#dead-letters') loadDeadLetters();
    route();
  }

  function onTabClick(event) {
    event.preventDefault();
    navigate(event.currentTarget.getAttribute('href'));
  }

  // ---------- dead letters: list ----------

  function readFilterForm() {
    const filter = {};
    const fields = { plugin: 'dlq-plugin', class: 'dlq-class', since: 'dlq-since' };
    for (const key of Object.keys(fields)) {
      const value = $(fields[key]).value.trim();
      if (value) filter[key] = value;
    }
    return filter;
  }

  function applyFilter(filter) {
    if (JSON.stringify(filter) !== JSON.stringify(dlq.filter)) dlq.selected.clear();
    dlq.filter = filter;
    dlq.before = null;
  }

  function dlqUrl() {
    const params = new URLSearchParams(dlq.filter);
    if (dlq.before != null) params.set('before', String(dlq.before));
    params.set('limit', String(DLQ_LIMIT));
    return `/api/dead-letters?${params}`;
  }

  // A newer request supersedes one still in flight (token check), so stale pages never land.
  async function loadDeadLetters() {
    clearTimeout(dlq.timer);
    const token = ++dlq.listToken;
    try {
      const data = await getJSON(dlqUrl());
      if (token === dlq.listToken) renderDeadLetters(data);
    } catch (err) {
      if (token === dlq.listToken) setText($('dlq-status'), `Could not load dead letters: ${err.message}`);
    }
    if (token === dlq.listToken && state.route === 'dead-letters') {
      dlq.timer = setTimeout(autoRefreshDeadLetters, DLQ_POLL_MS);
    }
  }

  function autoRefreshDeadLetters() {
    if (document.hidden) dlq.timer = setTimeout(autoRefreshDeadLetters, DLQ_POLL_MS);
    else loadDeadLetters();
  }

  function renderDeadLetters(data) {
    const letters = Array.isArray(data.letters) ? data.letters : [];
    dlq.next = data.next_before == null ? null : data.next_before;
    setText($('dlq-total'), fmtCount(data.total));
    syncRows($('dlq-rows'), dlq.rows, letters, (l) => l.seq, createLetterRow, updateLetterRow);
    $('dlq-older').disabled = dlq.next == null;
    $('dlq-newest').disabled = dlq.before == null;
    const where = dlq.before == null ? 'newest first' : `older than #${dlq.before}`;
    // A page reads at most 5,000 letters: none of those matching says nothing of older ones.
    setText($('dlq-status'), letters.length
      ? `${plural(letters.length, 'dead letter')} shown, ${where}.`
      : (dlq.next == null ? 'No dead letters match.'
        : 'None of the letters read so far match; Older › reads further back.'));
    updateSelectionUi();
  }

  function createLetterRow(l) {
    const { tr, cells } = createRow(LETTER_CELLS);
    tr.setAttribute('data-seq', String(l.seq));
    tr.tabIndex = 0;
    cells.box = el('input', 'select');
    cells.box.type = 'checkbox';
    cells.box.setAttribute('aria-label', `select dead letter ${l.seq}`);
    tr.insertBefore(el('td', 'pick'), tr.firstChild).appendChild(cells.box);
    cells.classBadge = cells.class.appendChild(el('span', 'badge neutral'));
    cells.pluginText = clipped(cells.plugin);
    cells.subjectText = clipped(cells.subject);
    cells.reasonText = clipped(cells.reason);
    return tr;
  }

  function updateLetterRow(tr, l) {
    const c = rowCells.get(tr);
    const picked = dlq.selected.has(l.seq);
    setText(c.seq, l.seq);
    setText(c.time, fmtTime(l.time, true), fmtTime(l.time));
    setText(c.pluginText, l.plugin || DASH, l.plugin || '');
    setText(c.classBadge, l.class || DASH);
    setText(c.subjectText, `${l.subject || ''}#${l.stream_seq == null ? '?' : l.stream_seq}`,
      `subject ${l.subject}\nstream ${l.stream} seq ${l.stream_seq}\ndelivery ${l.delivery}`);
    setText(c.reasonText, l.reason || '', l.reason || '');
    setText(c.replays, fmtCount(l.replays));
    c.box.checked = picked;
    tr.classList.toggle('selected', picked);
    tr.classList.toggle('active', l.seq === dlq.detailSeq);
  }

  const seqOf = (node) => Number(node.closest('tr').getAttribute('data-seq'));

  // ---------- dead letters: selection (a Set of seqs, so it survives refreshes and paging) ----------

  function select(seq, tr, picked) {
    if (picked) dlq.selected.add(seq);
    else dlq.selected.delete(seq);
    rowCells.get(tr).box.checked = picked;
    tr.classList.toggle('selected', picked);
  }

  function onLetterCheck(event) {
    if (!event.target.matches('input.select')) return;
    select(seqOf(event.target), event.target.closest('tr'), event.target.checked);
    updateSelectionUi();
  }

  function onSelectAll() {
    const checked = $('dlq-select-all').checked;
    for (const [seq, tr] of dlq.rows) select(seq, tr, checked);
    updateSelectionUi();
  }

  function updateSelectionUi() {
    const visible = Array.from(dlq.rows.keys());
    const picked = visible.filter((seq) => dlq.selected.has(seq)).length;
    const all = $('dlq-select-all');
    all.checked = visible.length > 0 && picked === visible.length;
    all.indeterminate = picked > 0 && picked < visible.length;
    const total = dlq.selected.size;
    let text = total ? `${fmtCount(total)} selected` : '';
    if (total > picked) text += ` (${fmtCount(total - picked)} on other pages)`;
    setText($('dlq-selection'), text);
  }

  // ---------- dead letters: actions ----------

  function describeFilter(filter) {
    const parts = Object.keys(filter).map((k) => `${k}=${filter[k]}`);
    return parts.length ? parts.join(', ') : 'no filter (every dead letter in the stream)';
  }

  function describeOutcome(kind, res) {
    const more = res.more ? '; more matched than one request handles: run it again' : '';
    if (kind === 'purge') return `deleted ${fmtCount(res.deleted)}${more}`;
    const failed = res.failed || [];
    let text = `replayed ${fmtCount((res.replayed || []).length)}`;
    if (failed.length) {
      text += `, failed ${fmtCount(failed.length)}: ${failed.map((f) => `${f.seq}: ${f.error}`).join('; ')}`;
    }
    if (res.skipped_max_replays) {
      text += `, skipped ${fmtCount(res.skipped_max_replays)} replayed dlq.max_replays times already`;
    }
    return text + more;
  }

  // Filter actions use what the form shows now, and the list follows that filter afterwards.
  function actionBody(scope) {
    if (scope === 'selected') return { seqs: Array.from(dlq.selected).sort((a, b) => a - b) };
    if (scope === 'open') return { seqs: dlq.detailSeq == null ? [] : [dlq.detailSeq] };
    const filter = readFilterForm();
    applyFilter(filter);
    return { filter };
  }

  // The server counts what a purge would delete (409 without "confirm"); the user sees that
  // number before anything goes.
  async function confirmPurge(body) {
    let count;
    try {
      await postJSON('/api/dead-letters/purge', body, ACTION_TIMEOUT_MS);
      return false;  // not reached: the server never purges unconfirmed
    } catch (err) {
      if (err.status !== 409 || !err.data) throw err;
      count = `${fmtCount(err.data.would_delete)}${err.data.more ? ' (and more)' : ''}`;
    }
    return window.confirm(body.seqs
      ? `Permanently delete ${count} of the selected dead letters?`
      : `Permanently delete ${count} dead letters matching ${describeFilter(body.filter)}?`);
  }

  function confirmReplay(body) {
    return body.seqs || window.confirm(
      `Replay every dead letter matching ${describeFilter(body.filter)} (up to 10,000)?`);
  }

  async function runAction(kind, scope) {
    const result = $('dlq-result');
    const body = actionBody(scope);
    if (body.seqs && !body.seqs.length) return setMessage(result, 'Nothing selected.', 'error');
    dlq.busy = true;
    updateAdminButtons();
    try {
      const confirmed = kind === 'purge' ? await confirmPurge(body) : confirmReplay(body);
      if (!confirmed) return;
      if (kind === 'purge') body.confirm = true;
      const res = await postJSON(`/api/dead-letters/${kind}`, body, ACTION_TIMEOUT_MS);
      const failed = kind === 'replay' && (res.failed || []).length > 0;
      setMessage(result, describeOutcome(kind, res), failed ? 'error' : 'ok');
      const done = kind === 'purge' ? (body.seqs || []) : (res.replayed || []);
      done.forEach((seq) => dlq.selected.delete(seq));
      if (scope === 'open' && done.length) closeDetail();
    } catch (err) {
      setMessage(result, `${kind} failed: ${err.message}`, 'error');
    } finally {
      dlq.busy = false;
      updateAdminButtons();
    }
    loadDeadLetters();
    refreshOverview();
  }

  // ---------- dead letters: detail ----------

  function onRowClick(event) {
    if (event.target.closest('td.pick')) return;
    const tr = event.target.closest('tr[data-seq]');
    if (tr) loadDetail(seqOf(tr));
  }

  function onRowKey(event) {
    if (event.key === 'Enter' && event.target.matches('tr[data-seq]')) loadDetail(seqOf(event.target));
  }

  function markActiveRow() {
    for (const [seq, tr] of dlq.rows) tr.classList.toggle('active', seq === dlq.detailSeq);
    $('dlq-layout').classList.toggle('with-detail', dlq.detailSeq != null);
  }

  async function loadDetail(seq) {
    if (seq !== dlq.detailSeq) clearDetail('loading…');
    dlq.detailSeq = seq;
    markActiveRow();
    show($('dlq-detail'), true);
    setText($('dlq-detail-seq'), `#${seq}`);
    const token = ++dlq.detailToken;
    try {
      const letter = await getJSON(`/api/dead-letters/${encodeURIComponent(seq)}`);
      if (token === dlq.detailToken) renderDetail(letter);
    } catch (err) {
      if (token !== dlq.detailToken) return;
      clearDetail('');
      show($('dlq-detail-body'), false);
      $('dlq-detail-meta').appendChild(el('dd', 'error-text', err.message));
    }
  }

  function closeDetail() {
    dlq.detailSeq = null;
    dlq.detailToken++;
    show($('dlq-detail'), false);
    markActiveRow();
  }

  function clearDetail(note) {
    $('dlq-detail-meta').textContent = '';
    $('dlq-detail-headers').textContent = '';
    setText($('dlq-payload'), '');
    setText($('dlq-payload-note'), note);
    show($('dlq-payload-hidden'), false);
  }

  function renderDetail(d) {
    const hidden = d.payload == null;
    renderMeta(d);
    show($('dlq-detail-body'), !hidden);
    show($('dlq-payload-hidden'), hidden);
    setText($('dlq-payload-hidden'),
      hidden ? (d.payload_hidden || 'sign in with the admin token to see headers and payloads') : '');
    renderHeaders(hidden ? [] : d.headers);
    const view = hidden ? { text: '', note: '' } : payloadView(d);
    setText($('dlq-payload'), view.text);
    setText($('dlq-payload-note'), view.note);
  }

  function renderMeta(d) {
    const fields = [
      ['seq', d.seq], ['time', fmtTime(d.time)], ['plugin', d.plugin], ['class', d.class],
      ['subject', d.subject], ['stream', d.stream == null ? null : `${d.stream} seq ${d.stream_seq}`],
      ['delivery', d.delivery], ['replays', d.replays], ['reason', d.reason],
    ];
    const meta = $('dlq-detail-meta');
    meta.textContent = '';
    for (const [label, value] of fields) {
      if (value == null || value === '') continue;
      meta.appendChild(el('dt', null, label));
      meta.appendChild(el('dd', null, String(value)));
    }
  }

  function renderHeaders(headers) {
    const tbody = $('dlq-detail-headers');
    const list = Array.isArray(headers) ? headers : [];
    tbody.textContent = '';
    if (!list.length) tbody.appendChild(el('tr')).appendChild(el('td', 'muted', 'no headers')).colSpan = 2;
    for (const [key, value] of list) {
      const tr = tbody.appendChild(el('tr'));
      tr.appendChild(el('th', null, String(key)));
      tr.appendChild(el('td', null, String(value)));
    }
  }

  function payloadView(d) {
    const text = String(d.payload);
    const origin = [isNum(d.payload_bytes) ? plural(d.payload_bytes, 'byte') : '',
      d.payload_from ? `from ${d.payload_from}` : ''].filter(Boolean).join(', ');
    if (d.payload_encoding === 'base64') return { text, note: `binary, shown as base64 (${origin})` };
    try {
      return { text: JSON.stringify(JSON.parse(text), null, 2), note: `JSON (${origin})` };
    } catch (e) {
      return { text, note: `${text ? 'text' : 'empty'} (${origin})` };
    }
  }

  // ---------- wiring ----------

  function showPluginPage(page) {
    state.pluginPage = Math.max(0, page);
    renderPlugins();
  }

  function onApplyFilter(event) {
    event.preventDefault();
    applyFilter(readFilterForm());
    loadDeadLetters();
  }

  function bind() {
    on('tab-overview', 'click', onTabClick);
    on('tab-dead-letters', 'click', onTabClick);
    window.addEventListener('hashchange', route);
    window.addEventListener('popstate', route);

    on('plugin-filter', 'input', () => showPluginPage(0));
    on('plugins-prev', 'click', () => showPluginPage(state.pluginPage - 1));
    on('plugins-next', 'click', () => showPluginPage(state.pluginPage + 1));

    on('login-form', 'submit', onLogin);
    on('logout-button', 'click', () => adminPost('/api/logout'));
    on('reload-button', 'click', () => adminPost('/api/reload', {}, 'reload requested'));

    on('dlq-filter', 'submit', onApplyFilter);
    on('dlq-older', 'click', () => { dlq.before = dlq.next; loadDeadLetters(); });
    on('dlq-newest', 'click', () => { dlq.before = null; loadDeadLetters(); });
    on('dlq-select-all', 'change', onSelectAll);
    on('dlq-rows', 'change', onLetterCheck);
    on('dlq-rows', 'click', onRowClick);
    on('dlq-rows', 'keydown', onRowKey);
    on('dlq-detail-close', 'click', closeDetail);
    on('dlq-replay-selected', 'click', () => runAction('replay', 'selected'));
    on('dlq-purge-selected', 'click', () => runAction('purge', 'selected'));
    on('dlq-replay-filter', 'click', () => runAction('replay', 'filter'));
    on('dlq-purge-filter', 'click', () => runAction('purge', 'filter'));
    on('dlq-detail-replay', 'click', () => runAction('replay', 'open'));
    on('dlq-detail-purge', 'click', () => runAction('purge', 'open'));
  }

  bind();
  route();
  refreshOverview();
})();
