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

/** The CSRF token of a session opened with a password (the lvyue_csrf cookie; the session cookie itself is
 *  HttpOnly, out of reach of scripts). */
export function csrfToken() {
  const m = /(?:^|;\s*)lvyue_csrf=([^;]+)/.exec(document.cookie);
  return m ? decodeURIComponent(m[1]) : null;
}

/** fetch() against /api/v1 with the bearer token of this tab, else the session cookie (a password sign-in) and,
 *  for a change, its CSRF token; JSON in and out unless told otherwise. */
export async function api(path, { method = 'GET', json, body, headers = {}, raw = false } = {}) {
  const auth = {};
  if (token()) auth.Authorization = `Bearer ${token()}`;
  else if (!['GET', 'HEAD'].includes(method) && csrfToken()) auth['X-CSRF-Token'] = csrfToken();
  const init = { method, credentials: 'same-origin', headers: { ...auth, ...headers } };
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

/** Resolve once the caller is signed in: by a token (this tab's session storage, or typed into the token form),
 *  or by a session cookie (signed in with a user name and password in the password form). */
export function signIn(check) {
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const error = document.getElementById('token-error');
  const pwForm = document.getElementById('password-form');
  const pwError = document.getElementById('password-error');
  const app = document.getElementById('app');
  const showForms = () => {
    form.hidden = false;
    if (pwForm) pwForm.hidden = false;
    app.hidden = true;
    input.focus();
  };
  return new Promise((resolve) => {
    const attempt = async (typed) => {
      try {
        const result = await check();
        await decorate();
        form.hidden = true;
        if (pwForm) pwForm.hidden = true;
        app.hidden = false;
        error.textContent = '';
        resolve(result);
      } catch (e) {
        if (e instanceof ApiError && [401, 403, 404].includes(e.status)) {
          const byToken = Boolean(token());
          forgetToken();
          showForms();
          if (typed === 'token') error.textContent = `${e.message} (${e.status}) — 令牌无效或无权访问 / the token is not valid here`;
          else if (typed === 'password' || (!byToken && e.status !== 401)) {
            if (pwError) pwError.textContent = `${e.message} (${e.status}) — 无权访问 / not allowed here`;
          }
        } else {
          status(e.message, true);
        }
      }
    };
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      input.value = '';
      attempt('token');
    });
    if (pwForm) {
      pwForm.addEventListener('submit', async (event) => {
        event.preventDefault();
        forgetToken();
        const password = document.getElementById('password-input');
        try {
          await api('/sessions', { method: 'POST', json: { name: document.getElementById('user-input').value.trim(),
            password: password.value } });
          pwError.textContent = '';
        } catch (e) {
          pwError.textContent = `${e.message} (${e.status || ''}) — 用户名或密码错误 / not signed in`;
          return;
        } finally {
          password.value = '';
        }
        meCache = null;
        attempt('password');
      });
    }
    if (token() || csrfToken()) {
      attempt(false);
    } else {
      showForms();
    }
  });
}

/** Sign out: forget this tab's token, or end the password session on the server (its cookies are cleared). */
export async function signOut() {
  if (token()) forgetToken();
  else if (csrfToken()) await api('/sessions/current', { method: 'DELETE' }).catch(() => null);
  window.location.assign('/');
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
      el('button', { type: 'button', id: 'sign-out', onclick: () => signOut() },
        'Sign out 退出'));
  }
  return who;
}
