// The contract's postMessage events to an embedding page: {"source":"sprechstunde","event":NAME,...}.
// Every event is also kept in `events` (in order), framed or not, for tests and debugging.

export const framed = (() => {
  try {
    return window.top !== window.self;
  } catch {
    return true; // a cross-origin top throws on access in some browsers: certainly framed
  }
})();

/** Where events go: the embedding page's origin when the browser tells it, else '*'. */
export function targetOrigin() {
  const ancestors = location.ancestorOrigins;
  if (ancestors && ancestors.length > 0 && ancestors[0] && ancestors[0] !== 'null') return ancestors[0];
  if (document.referrer) {
    try {
      const origin = new URL(document.referrer).origin;
      if (origin && origin !== 'null') return origin;
    } catch {
      // not a URL: fall through
    }
  }
  return '*';
}

export const events = [];

export function emit(event, fields = {}) {
  const message = { source: 'sprechstunde', event, ...fields };
  events.push(message);
  if (framed && window.parent) {
    try {
      window.parent.postMessage(message, targetOrigin());
    } catch (error) {
      console.warn('sprechstunde: could not post to the embedding page', error);
    }
  }
  return message;
}
