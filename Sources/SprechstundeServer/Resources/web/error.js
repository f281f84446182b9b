// The server's entry error pages (body.entry-error with data-code and data-message): tell an
// embedding page what went wrong with the contract's `error` event, and show the reader's
// language first.
import { emit } from './events.js';

const body = document.body;
if (body && body.classList.contains('entry-error')) {
  emit('error', { code: body.dataset.code || 'error', message: body.dataset.message || '' });
  const preferred = (navigator.language || 'en').toLowerCase().startsWith('de') ? 'de' : 'en';
  const first = document.querySelector(`main > section[lang="${preferred}"]`);
  if (first && first.parentElement.firstElementChild !== first) {
    first.parentElement.insertBefore(first, first.parentElement.firstElementChild);
    document.documentElement.lang = preferred;
  }
}
