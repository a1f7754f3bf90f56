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
