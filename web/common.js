// Shared by the pages: the token kept in session storage, API calls, small DOM helpers.
// Nothing here talks to any host but the one that served the page.

const TOKEN_KEY = 'lvyue.token';
export const API = '/api/v1';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

/** fetch() against /api/v1 with the bearer token; JSON in and out unless told otherwise. */
export async function api(path, { method = 'GET', json, body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { Authorization: `Bearer ${token()}`, ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path.startsWith(API) ? path : API + path, init);
  if (response.status === 401) {
    forgetToken();
  }
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch (e) { /* not JSON */ }
    throw new ApiError(response.status, problem);
  }
  if (raw) return response.text();
  return response.json();
}

/** Resolve once a token works: from session storage, or typed into the page's token form. */
export function signIn(check) {
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const error = document.getElementById('token-error');
  const app = document.getElementById('app');
  return new Promise((resolve) => {
    const attempt = async (typed) => {
      try {
        const result = await check();
        await decorate();
        form.hidden = true;
        app.hidden = false;
        error.textContent = '';
        resolve(result);
      } catch (e) {
        if (e instanceof ApiError && [401, 403, 404].includes(e.status)) {
          forgetToken();
          form.hidden = false;
          app.hidden = true;
          if (typed) error.textContent = `${e.message} (${e.status}) — 令牌无效或无权访问 / the token is not valid here`;
          input.focus();
        } else {
          status(e.message, true);
        }
      }
    };
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      input.value = '';
      attempt(true);
    });
    if (token()) {
      attempt(false);
    } else {
      form.hidden = false;
      input.focus();
    }
  });
}

export function status(text, isError = false) {
  const el = document.getElementById('status');
  el.textContent = text;
  el.classList.toggle('lvyue-error', isError);
}

/** Create an element: el('li', {class: 'x', text: 'y'}, child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An instant as China time (the statutory clock) with the ISO value in a tooltip. */
export function chinaTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const text = new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    hour12: false,
  }).format(d);
  return el('time', { datetime: iso, title: iso }, `${text} (UTC+8)`);
}

export function problemText(e) {
  if (e instanceof ApiError && e.body && e.body.errors) {
    return Object.entries(e.body.errors).map(([k, v]) => `${k}: ${v.join('; ')}`).join(' · ');
  }
  return e.message;
}

/** Money as every page shows it: the API's decimal string grouped by thousands, two decimals, "¥" prefix.
 *  Done on the string (never through a float), so 15-digit amounts keep every cent. */
export function yuan(text) {
  if (text === null || text === undefined || text === '') return '';
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(text));
  if (!m) return String(text);
  const whole = m[2].replace(/^0+(?=\d)/, '').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${m[1]}¥${whole}.${(m[3] || '').padEnd(2, '0')}`;
}

/** A deadline instant as the last day a party may act: an instant at 00:00 China time ends the day before
 *  (a due_at of 2026-07-30T00:00+08:00 is shown "2026-07-29 24:00", its last day 07-29), any other keeps its time. */
export function deadline(iso) {
  if (!iso) return '';
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  let text;
  if (parts.hour === '00' && parts.minute === '00') {
    const day = new Date(Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day) - 1));
    text = `${day.toISOString().slice(0, 10)} 24:00`;
  } else {
    text = `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
  }
  return el('time', { datetime: iso, title: `${iso} (the instant the deadline passes 期限届满时刻)`, class: 'lvyue-deadline' },
    `${text} (UTC+8)`);
}

/** Alert codes → their names in a diagram: the escalations' names ("Filing overdue (合同备案逾期)"). */
export function codeNames(xml) {
  const names = {};
  if (!xml) return names;
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  for (const node of doc.getElementsByTagNameNS('http://www.omg.org/spec/BPMN/20100524/MODEL', 'escalation')) {
    const code = node.getAttribute('escalationCode');
    if (code && node.getAttribute('name')) names[code] = node.getAttribute('name');
  }
  return names;
}

/** Alert codes → names over the latest version of every deployed definition (for pages listing alerts of many
 *  contracts); an unreadable diagram only leaves its codes unnamed. */
export async function deployedCodeNames() {
  const names = {};
  try {
    const { items } = await api('/definitions?limit=500');
    const xmls = await Promise.all(items.map((d) => api(
      `/definitions/${encodeURIComponent(d.key)}/versions/${d.version}/xml`, { raw: true }).catch(() => '')));
    for (const xml of xmls) Object.assign(names, codeNames(xml));
  } catch (e) { /* names are a courtesy: the codes stay */ }
  return names;
}

/** An alert code with its name when the diagram gives one, the raw code kept in a tooltip. */
export function codeLabel(code, names = {}) {
  return names[code] ? el('span', { class: 'lvyue-code', 'data-code': code }, el('strong', {}, names[code]), ' ',
    el('code', { class: 'lvyue-muted' }, code)) : el('code', { class: 'lvyue-code', 'data-code': code }, code);
}

let meCache = null;

/** Who the token belongs to (GET /api/v1/me), once per page. */
export async function me() {
  if (!meCache) meCache = await api('/me');
  return meCache;
}

/** Show the navigation links the caller's role may use (each link lists its roles in data-roles), the caller's
 *  name and a sign-out button. */
export async function decorate() {
  const who = await me();
  for (const link of document.querySelectorAll('[data-roles]')) {
    link.hidden = !link.dataset.roles.split(' ').includes(who.role);
  }
  const nav = document.getElementById('nav');
  if (nav) {
    nav.hidden = false;
    const here = window.location.pathname;
    for (const link of nav.querySelectorAll('a')) {
      const path = link.getAttribute('href');
      if (path === here || (path !== '/' && here.startsWith(`${path}/`))) link.setAttribute('aria-current', 'page');
    }
  }
  const session = document.getElementById('session');
  if (session && !session.dataset.decorated) {
    session.dataset.decorated = 'true';
    const where = who.org || who.department || '';
    session.replaceChildren(el('span', { id: 'whoami' }, `${who.name} · ${who.role}${where ? ` · ${where}` : ''}`), ' ',
      el('button', { type: 'button', id: 'sign-out', onclick: () => { forgetToken(); window.location.assign('/'); } },
        'Sign out 退出'));
  }
  return who;
}
