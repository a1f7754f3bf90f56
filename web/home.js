// The landing page: sign in once with an API token (kept in this tab's session storage, see common.js),
// then the pages the caller's role may use (GET /api/v1/me); the same links head every page.
import './lvyue.css';
import './pages.css';

import { api, problemText, signIn, status } from './common.js';

async function main() {
  const who = await signIn(() => api('/me'));
  document.getElementById('welcome').textContent =
    `Signed in as ${who.name} (${who.role}${who.org ? `, ${who.org}` : ''}${who.department ? `, ${who.department}` : ''}). ` +
    '已登录。Choose a page 请选择：';
  status('');
  document.body.dataset.ready = 'true';
}

main().catch((e) => status(problemText(e), true));
