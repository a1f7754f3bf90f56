// The task inbox: the caller's READY tasks (GET /api/v1/tasks); one opens its form, generated from the task's JSON
// Schema (GET /api/v1/tasks/{id}); submitting completes it (POST /api/v1/tasks/{id}/complete), a 422 shows the
// API's errors on their fields, and on success the list is read again and the next task opens — no reload.
import './lvyue.css';
import './pages.css';

import { api, ApiError, deadline, el, problemText, signIn, status } from './common.js';
import { buildFields, clearErrors, readForm, showErrors } from './forms.js';

const $ = (id) => document.getElementById(id);
let tasks = [];
let current = null;

function laneName(lane) {
  return { employer: '招标人/采购人 employer', contractor: '中标人/供应商 contractor', guarantor: '担保人 guarantor',
    supervisor: '监管部门 supervisor' }[lane] || lane || '';
}

function renderInbox() {
  $('task-count').textContent = tasks.length;
  $('inbox-empty').hidden = tasks.length > 0;
  $('inbox').replaceChildren(...tasks.map((t) => el('li', { 'data-task-id': t.id, 'data-element-id': t.element_id,
    class: current && current.id === t.id ? 'selected' : '' },
  el('button', { type: 'button', onclick: () => open(t.id).catch((e) => status(problemText(e), true)) },
    el('strong', {}, t.name || t.element_id),
    el('span', {}, `${t.business_key}${t.milestone_no ? ` · #${t.milestone_no}` : ''} · ${laneName(t.lane)}`),
    t.due_at ? el('span', { class: 'lvyue-muted' }, 'last day 最后期限 ', deadline(t.due_at)) : null))));
}

async function loadInbox() {
  const page = await api('/tasks?limit=200');
  tasks = page.items;
  renderInbox();
  return tasks;
}

async function open(taskId) {
  const task = await api(`/tasks/${encodeURIComponent(taskId)}`);
  current = task;
  renderInbox();
  $('task').hidden = false;
  $('task').dataset.taskId = task.id;
  $('task-title').textContent = task.name || task.element_id;
  const row = (term, value) => [el('dt', {}, term), el('dd', {}, value)];
  $('task-facts').replaceChildren(
    ...row('Contract 合同', el('a', { href: `/contracts/${encodeURIComponent(task.business_key)}` }, task.business_key)),
    ...row('Lane 角色', laneName(task.lane)),
    ...(task.milestone_no ? row('Milestone 履约节点', `#${task.milestone_no}`) : []),
    ...(task.due_at ? row('Last day 最后期限', deadline(task.due_at)) : []),
  );
  $('task-fields').replaceChildren(...buildFields(task.schema, task.form));
  $('task-error').textContent = '';
  const first = $('task-fields').querySelector('input, select');
  if (first) first.focus();
}

async function submit(event) {
  event.preventDefault();
  if (!current) return;
  const form = $('task-fields');
  clearErrors(form);
  $('task-error').textContent = '';
  $('task-submit').disabled = true;
  try {
    const done = current;
    const result = await api(`/tasks/${encodeURIComponent(done.id)}/complete`, { method: 'POST', json: { data: readForm(form) } });
    status(`Completed 已提交: ${done.name || done.element_id} (${done.business_key}).`);
    current = null;
    $('task').hidden = true;
    await loadInbox();
    // The next task: one the step just created for this caller, else the oldest left.
    const mine = new Set(tasks.map((t) => t.id));
    const next = (result.next_tasks || []).find((t) => mine.has(t.id)) || tasks[0];
    if (next) await open(next.id);
  } catch (e) {
    if (e instanceof ApiError && e.status === 422) {
      showErrors(form, e.body.errors || {}, $('task-error'));
      if (!e.body.errors) $('task-error').textContent = problemText(e);
      status('Not completed: see the fields. 未提交：请按提示修改。', true);
    } else if (e instanceof ApiError && e.status === 409) {
      $('task-error').textContent = `${problemText(e)} — the task is no longer ready 任务已不可办理`;
      await loadInbox();
    } else {
      $('task-error').textContent = problemText(e);
    }
  } finally {
    $('task-submit').disabled = false;
  }
}

async function main() {
  await signIn(() => api('/tasks?limit=1'));
  $('task-form').addEventListener('submit', (e) => submit(e).catch((err) => status(problemText(err), true)));
  $('refresh').addEventListener('click', () => loadInbox().catch((e) => status(problemText(e), true)));
  await loadInbox();
  const wanted = new URLSearchParams(window.location.search).get('task');
  if (wanted && tasks.some((t) => t.id === wanted)) await open(wanted);
  status('');
  document.body.dataset.ready = 'true';
}

main().catch((e) => status(problemText(e), true));
