// The video page: entry (secret from the address → session), sign-in, device check and consent,
// the waiting room, the call itself, and the contract's postMessage events. See docs/video.md.
import { bind, bindAttr, currentLanguage, has, onLanguageChange, setUpLanguage, t } from './i18n.js';
import { emit, events, framed } from './events.js';
import { classifyMediaError, frameAllows, listDevices, meterLevel, openLocalMedia, openTrack, playTestTone } from './media.js';
import { Mesh } from './peers.js';
import { Signaling } from './signaling.js';

const $ = (id) => document.getElementById(id);

const app = {
  callId: null,
  token: null,
  session: null,
  call: null,
  self: null,
  signaling: null,
  mesh: null,
  localStream: new MediaStream(),
  screenTrack: null,
  receiveOnly: false,
  mediaError: null,
  joinedCall: false,
  waitingAnnounced: false,
  finished: false,
  timeOver: null,
  stopMeter: () => {},
  waiting: new Map(), // peer id → entry (doctors)
  remoteMedia: new Map(), // peer id → {video, audio} as that page last said (`media` signals)
  sentMedia: null, // the JSON of the state last sent to everyone
  timers: [],
  prejoin: null, // resolves the straight-in flow once media is settled
};

// ---------------------------------------------------------------- small helpers

function setState(state) {
  app.state = state;
  document.body.dataset.state = state;
  const view = document.querySelector(`#view-${state === 'in-call' ? 'call' : state} h1`);
  if (view && state !== 'in-call' && state !== 'loading') {
    view.tabIndex = -1;
    // Move focus for screen readers, unless the user is typing somewhere.
    if (!document.activeElement || document.activeElement === document.body || !view.closest('.view').contains(document.activeElement)) {
      view.focus({ preventScroll: true });
    }
  }
}

function announce(key, args) {
  const announcer = $('announcer');
  announcer.textContent = '';
  // A fresh text node so that screen readers announce repeated messages too.
  setTimeout(() => bind(announcer, key, args), 30);
}

/** A notice over the page (over the videos in the call: the layout does not move); read out by `announce`. */
function showBanner(key, args, tone = 'info') {
  const banner = $('banner');
  const stage = document.querySelector('.stage');
  const home = app.state === 'in-call' ? stage : $('main');
  if (banner.parentElement !== home) home.prepend(banner);
  bind(banner, key, args);
  banner.dataset.tone = tone;
  banner.hidden = false;
  announce(key, args);
}

function hideBanner() {
  $('banner').hidden = true;
}

function storageKey(callId) {
  return `sprechstunde.session.${callId}`;
}

function admittedKey(callId) {
  return `sprechstunde.admitted.${callId}`;
}

function storeGet(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function storeSet(key, value) {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch {
    // storage blocked (privacy settings): a reload then asks again
  }
}

function errorText(code, message) {
  const key = `error.${code}`;
  return has(key) ? [key, {}] : ['error.unknown', { message: message || code }];
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', 'network');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const fallback = { 401: 'session-invalid', 403: 'forbidden', 404: 'not-found', 429: 'throttled' }[response.status];
    throw new ApiError(response.status, data?.code || fallback || 'error', data?.message || response.statusText);
  }
  return data;
}

// ---------------------------------------------------------------- failure screens

function fail(code, message) {
  const [key, args] = errorText(code, message);
  bind($('error-detail'), key, args);
  const other = $('error-detail-other');
  other.dataset.i18nKey = key;
  if (args && Object.keys(args).length) other.dataset.i18nArgs = JSON.stringify(args);
  bind($('error-code'), 'error.code', { code });
  $('error-retry').hidden = !(code === 'network' || code === 'throttled');
  setLanguageDependent();
  setState('error');
  emit('error', { code, message: message || t(key, args, 'en') });
}

/** The call is over for this page: declined, ended, replaced or the session became invalid. */
function finish(reason, message) {
  if (app.finished) return;
  app.finished = true;
  teardown(false);
  const titles = {
    declined: 'ended.declined.title',
    replaced: 'ended.replaced.title',
    'call-ended': 'ended.title',
  };
  const details = {
    declined: 'ended.declined',
    replaced: 'ended.replaced',
    'call-ended': 'ended.close',
  };
  const titleKey = titles[reason] || 'ended.session.title';
  const detailKey = details[reason] || (has(`error.${reason}`) ? `error.${reason}` : 'ended.session');
  bind($('ended-title'), titleKey);
  bind($('ended-detail'), detailKey);
  const other = $('ended-detail-other');
  other.dataset.i18nKey = detailKey;
  $('ended-title-other').dataset.i18nKey = titleKey;
  setLanguageDependent();
  document.body.classList.toggle('declined', reason === 'declined');
  if (reason === 'declined') {
    bind($('waiting-title'), 'ended.declined.title');
    bind($('waiting-status'), 'waiting.declined');
    $('declined-other').hidden = false;
  }
  setState('ended');
  emit('error', { code: reason, message: message || t(detailKey === 'ended.close' ? titleKey : detailKey, {}, 'en') });
}

function setLanguageDependent() {
  for (const element of document.querySelectorAll('[data-i18n-lang="other"]')) {
    const other = currentLanguage() === 'de' ? 'en' : 'de';
    element.lang = other;
    if (element.dataset.i18nKey) {
      const args = element.dataset.i18nArgs ? JSON.parse(element.dataset.i18nArgs) : undefined;
      element.textContent = t(element.dataset.i18nKey, args, other);
    }
  }
}

// ---------------------------------------------------------------- entry

async function boot() {
  setUpLanguage();
  onLanguageChange(() => {
    setLanguageDependent();
    refreshDeviceLists();
    updateTime();
    renderQuality();
    refreshWaitingTimes();
  });
  bindAttr($('controls'), 'aria-label', 'call.controls');
  bindAttr($('local-video'), 'aria-label', 'call.local');
  bindAttr($('preview'), 'aria-label', 'check.preview');
  wireControls();

  const match = location.pathname.match(/^\/video\/([^/]+)\/?$/);
  const segment = match ? decodeURIComponent(match[1]) : null;
  const params = new URLSearchParams(location.search);
  const tan = params.get('tan');
  const tid = params.get('tid');

  if (segment === 'login') {
    if (!tan) return fail('tan-invalid');
    return redeem({ tan }, null);
  }
  if (!segment || !/^\d+$/.test(segment)) return fail('bad-link');
  app.callId = Number(segment);
  if (tan) return redeem({ call_id: app.callId, tan }, app.callId);
  if (tid) return redeem({ call_id: app.callId, tid }, app.callId);

  const stored = storeGet(storageKey(app.callId));
  if (stored) {
    try {
      const session = await api('GET', '/video/api/session', null, stored);
      return proceed(session, stored);
    } catch (error) {
      if (error.code === 'network') return fail('network');
      storeSet(storageKey(app.callId), null);
      if (error.status !== 401) return fail(error.code, error.message);
    }
  }
  showSignin();
}

async function redeem(body, callId) {
  try {
    const session = await api('POST', '/video/api/session', body);
    return proceed(session, session.token);
  } catch (error) {
    // A spent one-time password or an old TAN link from the history: the session of this tab may still be good.
    const stored = callId ? storeGet(storageKey(callId)) : null;
    if (stored && error.status >= 400 && error.status < 500) {
      try {
        const session = await api('GET', '/video/api/session', null, stored);
        history.replaceState(null, '', `/video/${callId}`);
        return proceed(session, stored);
      } catch {
        storeSet(storageKey(callId), null);
      }
    }
    return fail(error.code, error.message);
  }
}

function showSignin() {
  setState('signin');
  const form = $('signin');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const email = $('signin-email').value.trim();
    const password = $('signin-password').value;
    const errorBox = $('signin-error');
    if (!email || !password) {
      bind(errorBox, 'signin.missing');
      (email ? $('signin-password') : $('signin-email')).focus();
      return;
    }
    const button = $('signin-submit');
    button.disabled = true;
    bind(button, 'signin.busy');
    errorBox.textContent = '';
    delete errorBox.dataset.i18n;
    for (const field of [$('signin-email'), $('signin-password')]) field.removeAttribute('aria-invalid');
    try {
      const session = await api('POST', '/video/api/session', { call_id: app.callId, email, password });
      proceed(session, session.token);
    } catch (error) {
      // Only a refused e-mail/password marks the fields; a deleted or ended call, a call the
      // account does not take part in, throttling or the network say so instead.
      const credentials = error.status === 401 || error.status === 422 || error.code === 'signin-failed';
      const [key, args] = credentials ? ['signin.failed', {}] : errorText(error.code, error.message);
      bind(errorBox, key, args);
      emit('error', { code: error.status === 401 ? 'signin-failed' : error.code, message: error.message });
      if (credentials) {
        $('signin-email').setAttribute('aria-invalid', 'true');
        $('signin-password').setAttribute('aria-invalid', 'true');
        $('signin-password').select();
        $('signin-password').focus();
      }
    } finally {
      button.disabled = false;
      bind(button, 'signin.submit');
    }
  });
}

function proceed(session, token) {
  app.session = session;
  app.token = token;
  app.call = session.call;
  app.self = session.self;
  app.callId = session.call.id;
  storeSet(storageKey(app.callId), token);
  if (location.pathname !== `/video/${app.callId}` || location.search) {
    history.replaceState(null, '', `/video/${app.callId}`);
  }
  if (session.call.name) {
    $('call-name').textContent = session.call.name;
    document.title = `${session.call.name} · Sprechstunde`;
  }
  emit('ready', { call_id: app.callId });
  if (session.waiting_area && !storeGet(admittedKey(app.callId))) {
    deviceCheck();
  } else {
    straightIn();
  }
}

// ---------------------------------------------------------------- local media

function track(kind) {
  return app.localStream.getTracks().find((t) => t.kind === kind) || null;
}

function outgoingVideo() {
  return app.screenTrack || track('video');
}

async function startLocalMedia() {
  const { stream, error } = await openLocalMedia({});
  for (const old of app.localStream.getTracks()) {
    old.stop();
    app.localStream.removeTrack(old);
  }
  for (const t of stream.getTracks()) app.localStream.addTrack(t);
  app.mediaError = error;
  showLocal();
  await refreshDeviceLists();
  restartMeter();
  if (error) showMediaHelp(error);
  else hideMediaHelp();
  return !error;
}

function showLocal() {
  for (const video of [$('preview'), $('local-video')]) {
    if (video.srcObject !== app.localStream) video.srcObject = app.localStream;
  }
  if (app.screenTrack) $('local-video').srcObject = new MediaStream([app.screenTrack]);
  $('local-tile').classList.toggle('screen', !!app.screenTrack);
  const hasVideo = !!track('video');
  $('preview-off').hidden = hasVideo;
  $('preview').hidden = !hasVideo;
  updateToggles();
}

function restartMeter() {
  app.stopMeter();
  app.stopMeter = meterLevel(track('audio'), $('mic-level'));
}

let deviceLists = { cameras: [], mics: [] };

async function refreshDeviceLists() {
  try {
    deviceLists = await listDevices();
  } catch {
    deviceLists = { cameras: [], mics: [] };
  }
  // Without permission the browser lists no devices: say so rather than "no device found", and
  // hide what cannot work then (level meter, speaker test).
  const denied = !!app.mediaError && classifyMediaError(app.mediaError) === 'denied' && !app.localStream.getTracks().length;
  const empty = denied ? 'device.denied' : 'device.none';
  fillSelect($('camera-select'), deviceLists.cameras, track('video'), empty);
  fillSelect($('mic-select'), deviceLists.mics, track('audio'), empty);
  $('mic-level').closest('.field').hidden = denied;
  $('speaker-test').closest('.field').hidden = denied;
}

function fillSelect(select, devices, current, emptyKey = 'device.none') {
  const currentId = current?.getSettings?.().deviceId;
  select.textContent = '';
  if (!devices.length) {
    const option = document.createElement('option');
    option.value = '';
    option.textContent = t(emptyKey);
    select.append(option);
    select.disabled = true;
    return;
  }
  select.disabled = false;
  devices.forEach((device, index) => {
    const option = document.createElement('option');
    option.value = device.deviceId;
    option.textContent =
      device.label || (device.deviceId === 'default' ? t('device.default') : t('device.unnamed', { n: index + 1 }));
    select.append(option);
  });
  if (currentId && devices.some((d) => d.deviceId === currentId)) select.value = currentId;
}

async function switchDevice(kind, deviceId) {
  if (!deviceId) return;
  const old = track(kind);
  if (old?.getSettings?.().deviceId === deviceId) return;
  let fresh;
  try {
    // Some systems open one camera at a time: let go of the old one first.
    if (old && kind === 'video') old.stop();
    fresh = await openTrack(kind, deviceId);
  } catch (error) {
    console.warn('sprechstunde: device switch failed', error);
    if (old && kind === 'video' && old.readyState === 'ended') {
      try {
        fresh = await openTrack(kind, undefined);
      } catch {
        fresh = null;
      }
    }
    if (!fresh) return;
  }
  if (old) {
    fresh.enabled = old.enabled;
    app.localStream.removeTrack(old);
    old.stop();
  }
  app.localStream.addTrack(fresh);
  if (kind === 'audio') restartMeter();
  if (app.mesh && !(kind === 'video' && app.screenTrack)) await app.mesh.replaceTrack(kind, fresh);
  // Refresh the element (some browsers do not notice track changes on the same stream).
  for (const video of [$('preview'), $('local-video')]) video.srcObject = null;
  showLocal();
  await refreshDeviceLists();
}

// ---------------------------------------------------------------- media help

let mediaHelp = null;

function showMediaHelp(error) {
  if (!mediaHelp) {
    mediaHelp = $('media-help-template').content.firstElementChild.cloneNode(true);
    for (const element of mediaHelp.querySelectorAll('[data-i18n]')) bind(element, element.dataset.i18n);
    mediaHelp.querySelector('#media-retry').addEventListener('click', retryMedia);
    mediaHelp.querySelector('#media-without').addEventListener('click', continueWithoutMedia);
  }
  const kind = classifyMediaError(error);
  const key = { denied: 'media.denied.help', notfound: 'media.notfound.help', busy: 'media.busy.help', insecure: 'media.insecure.help' }[kind] || 'media.other.help';
  bind(mediaHelp.querySelector('#media-help-text'), key, { name: error?.name || 'Error' });
  const blockedByFrame = framed && (!frameAllows('camera') || !frameAllows('microphone'));
  // Inside a frame without the permission nothing the user does helps: say what the embedding page must change.
  mediaHelp.querySelector('#media-help-iframe').hidden = !blockedByFrame;
  mediaHelp.querySelector('#media-help-text').hidden = blockedByFrame;
  mediaHelp.querySelector('#media-retry').hidden = blockedByFrame;
  mediaHelp.querySelector('#media-without').hidden = app.state === 'in-call';
  placeMediaHelp();
  emit('error', {
    code: 'media-denied',
    message: blockedByFrame
      ? t('media.iframe.help', {}, 'en')
      : `${error?.name || 'Error'}: ${t(key, { name: error?.name || 'Error' }, 'en')}`,
  });
}

function placeMediaHelp() {
  if (!mediaHelp) return;
  const slot = document.body.dataset.state === 'in-call' ? $('media-help-slot-call') : $('media-help-slot-check');
  if (mediaHelp.parentElement !== slot) slot.append(mediaHelp);
  mediaHelp.querySelector('#media-without').hidden = document.body.dataset.state === 'in-call';
}

function hideMediaHelp() {
  mediaHelp?.remove();
}

async function retryMedia() {
  const ok = await startLocalMedia();
  if (ok) {
    app.receiveOnly = false;
    if (app.mesh) {
      await app.mesh.replaceTrack('audio', track('audio'));
      if (!app.screenTrack) await app.mesh.replaceTrack('video', track('video'));
    }
    app.prejoin?.();
  }
}

function continueWithoutMedia() {
  app.receiveOnly = true;
  hideMediaHelp();
  showBanner('media.receiveonly');
  app.prejoin?.();
}

// ---------------------------------------------------------------- device check and waiting room

async function deviceCheck() {
  setState('device-check');
  $('device-slot-check').append($('devices'));
  const consent = app.session.consent || {};
  const needData = app.self?.role === 'tanuser' && consent.data_agreed === false;
  const needDescriptions = app.self?.role === 'tanuser' && consent.descriptions_agreed === false;
  $('consent').hidden = !(needData || needDescriptions);
  $('consent-data').closest('.check-row').hidden = !needData;
  $('consent-descriptions').closest('.check-row').hidden = !needDescriptions;
  $('consent-data').required = needData;
  $('consent-descriptions').required = needDescriptions;
  // The practice's privacy policy (--privacy-url), where the patient decides.
  if (app.session.privacy_url) {
    $('privacy-link').href = app.session.privacy_url;
    $('privacy').hidden = false;
  }

  const enter = $('enter-waiting');
  enter.addEventListener('click', async () => {
    const errorBox = $('check-error');
    errorBox.textContent = '';
    delete errorBox.dataset.i18n;
    const missing = [];
    if (needData && !$('consent-data').checked) missing.push($('consent-data'));
    if (needDescriptions && !$('consent-descriptions').checked) missing.push($('consent-descriptions'));
    for (const box of [$('consent-data'), $('consent-descriptions')]) box.removeAttribute('aria-invalid');
    if (missing.length) {
      for (const box of missing) box.setAttribute('aria-invalid', 'true');
      bind(errorBox, 'check.consent.needed');
      missing[0].focus();
      return;
    }
    enter.disabled = true;
    bind(enter, 'check.busy');
    try {
      if (needData || needDescriptions) {
        const session = await api('POST', '/video/api/consent', { data_agreed: true, descriptions_agreed: true }, app.token);
        if (session) app.session.consent = session.consent;
      }
    } catch (error) {
      enter.disabled = false;
      bind(enter, 'check.enter');
      const [key, args] = errorText(error.code, error.message);
      bind(errorBox, key, args);
      emit('error', { code: error.code, message: error.message });
      return;
    }
    if (app.mediaError) app.receiveOnly = true;
    hideMediaHelp();
    setState('waiting');
    bind($('waiting-status'), 'waiting.connecting');
    connect();
  });

  await startLocalMedia();
}

async function straightIn() {
  setState('loading');
  const ok = await startLocalMedia();
  if (!ok) {
    // Show the help and let the user choose: try again, or join receive-only.
    setState('device-check');
    document.body.classList.add('prejoin');
    bind($('check-title'), 'check.prejoin.title');
    $('device-slot-check').append($('devices'));
    placeMediaHelp();
    await new Promise((resolve) => {
      app.prejoin = resolve;
    });
    app.prejoin = null;
    document.body.classList.remove('prejoin');
    bind($('check-title'), 'check.title');
    setState('loading');
  }
  connect();
}

// ---------------------------------------------------------------- signaling

function connect() {
  if (app.signaling) return;
  app.mesh = new Mesh({
    selfId: () => app.signaling?.peerId || '',
    send: (to, data) => app.signaling?.send({ type: 'signal', to, data }),
    localTrack: (kind) => (kind === 'video' ? outgoingVideo() : track('audio')),
    localStream: () => app.localStream,
    rtcConfig: {
      iceServers: app.session.ice_servers || [],
      iceTransportPolicy: app.session.ice_transport_policy === 'relay' ? 'relay' : 'all',
    },
    onTrack: remoteTrack,
    onConnectionState: connectionState,
  });
  app.signaling = new Signaling(app.token, {
    onMessage: handleMessage,
    onLost: () => {
      if (app.state === 'waiting') bind($('waiting-status'), 'waiting.reconnecting');
      else if (app.state === 'in-call') showBanner('call.socket.lost', {}, 'warning');
    },
    onFinal: (code, reason, lastError) => {
      if (app.finished || app.state === 'left') return;
      if (reason === 'session-invalid' && lastError?.code && lastError.code !== 'session-invalid') {
        finish(lastError.code, lastError.message);
      } else finish(reason, lastError?.message);
    },
  });
  app.signaling.connect();
}

function handleMessage(message) {
  switch (message.type) {
    case 'welcome':
      return welcome(message);
    case 'waiting-list':
      return renderWaitingList(message.entries || []);
    case 'admitted':
      storeSet(admittedKey(app.callId), '1');
      bind($('waiting-status'), 'waiting.admitted');
      emit('admitted');
      return enterCall(message.participants || []);
    case 'declined':
      return finish('declined');
    case 'participant-joined':
      if (message.peer_id !== app.signaling.peerId) addParticipant(message.peer_id, message.participant, false);
      return undefined;
    case 'participant-left':
      return removeParticipant(message.peer_id, message.participant);
    case 'signal':
      if (app.joinedCall && message.from && message.data?.media) return remoteMediaState(message.from, message.data.media);
      if (app.joinedCall && message.from) {
        const known = app.mesh.get(message.from);
        if (!known) addParticipant(message.from, { id: null, name: '', role: '' }, false, true);
        app.mesh.handleSignal(message.from, message.data);
      }
      return undefined;
    case 'waiting-status':
      if (app.state === 'waiting') waitingStatus(message.doctors_present);
      return undefined;
    case 'time-over':
      return timeOver(message);
    case 'call-ended':
      return finish('call-ended');
    case 'replaced':
      return finish('replaced');
    case 'error':
      console.warn('sprechstunde: server refused a message', message.code, message.message);
      return undefined;
    default:
      return undefined;
  }
}

function welcome(message) {
  if (message.call) app.call = { ...app.call, ...message.call };
  if (message.self) app.self = message.self;
  updateTime();
  if (message.resumed) {
    hideBanner();
    if (app.joinedCall) {
      announce('call.socket.back');
      reconcile(message.participants || []);
      app.mesh.resendPending();
      // A camera or microphone switched while the socket was away: say it again.
      app.sentMedia = null;
      sendMediaState();
      return;
    }
  } else if (app.mesh.size) {
    // The server no longer knew us (away too long): we are a newcomer again.
    for (const peer of app.mesh.list()) removeParticipant(peer.id, peer.participant);
  }
  if (message.state === 'in-call' && app.state === 'waiting') {
    // Admitted while the socket was away: the `admitted` message was lost with it.
    storeSet(admittedKey(app.callId), '1');
    emit('admitted');
  }
  if (message.state === 'waiting') {
    setState('waiting');
    waitingStatus(message.doctors_present);
    if (!app.waitingAnnounced) {
      app.waitingAnnounced = true;
      emit('waiting');
    }
    return;
  }
  enterCall(message.participants || []);
}

/** What the waiting patient is told. `doctors_present` is not sent by the server yet (see docs/video.md). */
function waitingStatus(doctorsPresent) {
  bind($('waiting-status'), doctorsPresent === true ? 'waiting.doctor' : 'waiting.wait');
}

/** After a resume: connect to whoever arrived meanwhile, drop whoever left meanwhile. */
function reconcile(participants) {
  const listed = new Set(participants.map((p) => p.peer_id));
  for (const peer of app.mesh.list()) {
    if (!listed.has(peer.id)) removeParticipant(peer.id, peer.participant);
  }
  for (const { peer_id: peerId, participant } of participants) {
    if (!app.mesh.get(peerId)) addParticipant(peerId, participant, true);
  }
}

// ---------------------------------------------------------------- the call

function enterCall(participants) {
  const first = !app.joinedCall;
  if (first) {
    app.joinedCall = true;
    $('device-slot-call').append($('devices'));
    if (!$('banner').hidden) document.querySelector('.stage').prepend($('banner'));
    showLocal();
    setState('in-call');
    placeMediaHelp();
    $('waiting-panel').hidden = !app.session.doctor;
    renderWaitingList([...app.waiting.values()]);
    emit('joined', { call_id: app.callId, self: app.self });
    startCallTimers();
    if (app.receiveOnly) showBanner('media.receiveonly');
  }
  for (const { peer_id: peerId, participant } of participants) {
    if (peerId !== app.signaling.peerId && !app.mesh.get(peerId)) addParticipant(peerId, participant, true);
  }
  updateAlone();
}

function addParticipant(peerId, participant, initiator, quiet = false) {
  if (!app.joinedCall) return;
  const existing = app.mesh.get(peerId);
  if (existing) {
    if (participant?.name) {
      existing.participant = participant;
      const tile = tileOf(peerId);
      if (tile) tile.querySelector('.tile-name').textContent = participant.name;
    }
    return;
  }
  const peer = app.mesh.ensure(peerId, participant);
  createTile(peer);
  if (initiator) app.mesh.offer(peer);
  sendMediaState(peerId);
  if (!quiet) {
    emit('participant-joined', { participant });
    if (participant?.name) announce('call.joined', { name: participant.name });
  }
  updateAlone();
}

function removeParticipant(peerId, participant) {
  const peer = app.mesh?.remove(peerId);
  tileOf(peerId)?.remove();
  app.remoteMedia.delete(peerId);
  if (peer || participant) {
    const who = participant || peer?.participant;
    if (peer) {
      emit('participant-left', { participant: who });
      if (who?.name) announce('call.left', { name: who.name });
    }
  }
  updateAlone();
  renderQuality();
}

function tileOf(peerId) {
  return $('remote-videos').querySelector(`figure[data-peer-id="${CSS.escape(peerId)}"]`);
}

function initials(name) {
  return (name || '?')
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join('');
}

function createTile(peer) {
  const tile = $('tile-template').content.firstElementChild.cloneNode(true);
  tile.dataset.peerId = peer.id;
  tile.dataset.media = 'connecting';
  const video = tile.querySelector('video');
  video.dataset.peerId = peer.id;
  video.srcObject = peer.remoteStream;
  video.setAttribute('aria-label', peer.participant?.name || '');
  tile.querySelector('.tile-name').textContent = peer.participant?.name || '';
  tile.querySelector('.avatar').textContent = initials(peer.participant?.name);
  bind(tile.querySelector('.tile-camera'), 'call.camera.off');
  bind(tile.querySelector('.tile-mic-text'), 'call.mic.off');
  bind(tile.querySelector('.tile-state'), 'call.connecting');
  $('remote-videos').append(tile);
  showRemoteMedia(peer.id);
  const watchFrames = () => {
    if (typeof video.requestVideoFrameCallback === 'function') {
      video.requestVideoFrameCallback(() => {
        tile.dataset.media = 'video';
        mediaFlowing(peer);
      });
    }
  };
  video.addEventListener('loadeddata', watchFrames);
  video.addEventListener('playing', () => {
    if (video.videoWidth > 0) tile.dataset.media = 'video';
  });
  updateAlone();
}

function updateAlone() {
  const count = app.mesh ? app.mesh.size : 0;
  $('remote-videos').dataset.count = String(Math.min(count, 6));
  $('alone').hidden = count > 0;
  const waiting = app.session?.doctor ? app.waiting.size : 0;
  if (waiting > 0) bind($('alone'), waiting === 1 ? 'call.alone.waiting.one' : 'call.alone.waiting', { n: waiting });
  else bind($('alone'), 'call.alone');
}

function remoteTrack(peer, remote) {
  const tile = tileOf(peer.id);
  if (!tile) return;
  const video = tile.querySelector('video');
  if (video.srcObject !== peer.remoteStream) video.srcObject = peer.remoteStream;
  const play = video.play();
  if (play && typeof play.catch === 'function') {
    play.catch((error) => {
      if (error.name === 'NotAllowedError') {
        // Sound needs a click first: play muted now, offer the switch.
        video.muted = true;
        video.play().catch(() => {});
        $('enable-sound').hidden = false;
      }
    });
  }
  if (remote.kind === 'video') {
    remote.addEventListener('mute', () => (tile.dataset.media = 'muted'));
    remote.addEventListener('unmute', () => (tile.dataset.media = 'video'));
  }
}

function connectionState(peer) {
  const tile = tileOf(peer.id);
  if (!tile) return;
  const state = peer.pc.connectionState;
  const label = tile.querySelector('.tile-state');
  if (state === 'connected') {
    label.textContent = '';
    delete label.dataset.i18n;
    sendMediaState(peer.id);
  } else if (state === 'disconnected' || state === 'failed') {
    bind(label, 'call.reconnecting');
  } else if (state === 'new' || state === 'connecting') {
    bind(label, 'call.connecting');
  }
  tile.dataset.connection = state;
}

function mediaFlowing(peer) {
  if (peer.mediaConnected || peer.closed) return;
  peer.mediaConnected = true;
  emit('media-connected', { participant: peer.participant });
}

// ---------------------------------------------------------------- controls

function updateToggles() {
  const camera = track('video');
  const mic = track('audio');
  setToggle($('toggle-camera'), camera ? camera.enabled : false);
  setToggle($('toggle-mic'), mic ? mic.enabled : false);
  $('local-tile').dataset.camera = camera && camera.enabled ? 'on' : 'off';
  const state = $('local-state');
  if (!camera) bind(state, 'call.camera.none');
  else if (!camera.enabled) bind(state, 'call.camera.off');
  else {
    state.textContent = '';
    delete state.dataset.i18n;
  }
  $('local-mic').hidden = !!mic && mic.enabled;
  bind($('local-mic').querySelector('.tile-mic-text'), mic ? 'call.mic.off' : 'call.mic.none');
  bindAttr($('local-mic'), 'title', mic ? 'call.mic.off' : 'call.mic.none');
  sendMediaState();
}

// ---------------------------------------------------------------- camera and microphone state of the others

/** What this page sends: video (camera on, or a screen shared) and sound. */
function localMediaState() {
  const video = outgoingVideo();
  const audio = track('audio');
  return {
    video: !!video && video.enabled && video.readyState !== 'ended',
    audio: !!audio && audio.enabled && audio.readyState !== 'ended',
  };
}

/**
 * Tells `peerId` (default: everyone in the call, when the state changed) whether our camera and
 * microphone are on: a `signal` with `data: {media: {video, audio}}` (docs/video.md).
 */
function sendMediaState(peerId) {
  if (!app.joinedCall || !app.mesh || !app.signaling) return;
  const media = localMediaState();
  if (!peerId) {
    const json = JSON.stringify(media);
    if (json === app.sentMedia) return;
    app.sentMedia = json;
  }
  const targets = peerId ? [peerId] : app.mesh.list().map((peer) => peer.id);
  for (const to of targets) app.signaling.send({ type: 'signal', to, data: { media } });
}

function remoteMediaState(peerId, media) {
  app.remoteMedia.set(peerId, { video: media.video !== false, audio: media.audio !== false });
  showRemoteMedia(peerId);
}

function showRemoteMedia(peerId) {
  const tile = tileOf(peerId);
  const media = app.remoteMedia.get(peerId);
  if (!tile || !media) return;
  tile.dataset.camera = media.video ? 'on' : 'off';
  tile.querySelector('.tile-camera').hidden = media.video;
  tile.querySelector('.tile-mic').hidden = media.audio;
}

function setToggle(button, on) {
  button.setAttribute('aria-pressed', on ? 'true' : 'false');
  bind(button.querySelector('.control-state'), on ? 'call.on' : 'call.off');
}

async function toggle(kind) {
  let current = track(kind);
  if (!current) {
    // Receive-only so far: try to open the device now.
    try {
      current = await openTrack(kind, undefined);
    } catch (error) {
      showMediaHelp(error);
      return;
    }
    app.localStream.addTrack(current);
    if (kind === 'audio') restartMeter();
    if (app.mesh && !(kind === 'video' && app.screenTrack)) await app.mesh.replaceTrack(kind, current);
    for (const video of [$('preview'), $('local-video')]) video.srcObject = null;
    showLocal();
    await refreshDeviceLists();
    return;
  }
  current.enabled = !current.enabled;
  updateToggles();
}

async function toggleShare() {
  if (app.screenTrack) return stopShare();
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  } catch (error) {
    if (error.name !== 'NotAllowedError' && error.name !== 'AbortError') showBanner('call.share.failed', {}, 'warning');
    return undefined;
  }
  const screen = stream.getVideoTracks()[0];
  if (!screen) return undefined;
  if ('contentHint' in screen) screen.contentHint = 'detail';
  app.screenTrack = screen;
  screen.addEventListener('ended', stopShare);
  await app.mesh?.replaceTrack('video', screen);
  const button = $('share-screen');
  button.setAttribute('aria-pressed', 'true');
  bind(button.querySelector('.label'), 'call.sharing');
  showLocal();
  return undefined;
}

async function stopShare() {
  const screen = app.screenTrack;
  if (!screen) return;
  app.screenTrack = null;
  screen.removeEventListener('ended', stopShare);
  screen.stop();
  await app.mesh?.replaceTrack('video', track('video'));
  const button = $('share-screen');
  button.setAttribute('aria-pressed', 'false');
  bind(button.querySelector('.label'), 'call.share');
  $('local-video').srcObject = app.localStream;
  showLocal();
}

function teardown(sayLeave) {
  for (const timer of app.timers) clearInterval(timer);
  app.timers = [];
  app.signaling?.close(sayLeave);
  app.mesh?.closeAll();
  for (const video of $('remote-videos').querySelectorAll('figure')) video.remove();
  app.stopMeter();
  if (app.screenTrack) {
    app.screenTrack.stop();
    app.screenTrack = null;
  }
  for (const t of app.localStream.getTracks()) t.stop();
  for (const video of [$('preview'), $('local-video')]) video.srcObject = null;
  $('time-remaining').hidden = true;
  $('quality').hidden = true;
  hideBanner();
}

function leave() {
  if (app.state === 'left' || app.finished) return;
  teardown(true);
  setState('left');
  emit('left');
}

function wireControls() {
  $('toggle-camera').addEventListener('click', () => toggle('video'));
  $('toggle-mic').addEventListener('click', () => toggle('audio'));
  $('share-screen').addEventListener('click', toggleShare);
  if (!navigator.mediaDevices?.getDisplayMedia) $('share-screen').hidden = true;
  $('leave').addEventListener('click', leave);
  $('rejoin').addEventListener('click', () => location.reload());
  $('error-retry').addEventListener('click', () => location.reload());
  $('toggle-settings').addEventListener('click', () => {
    const panel = $('settings-panel');
    panel.hidden = !panel.hidden;
    $('toggle-settings').setAttribute('aria-pressed', panel.hidden ? 'false' : 'true');
    if (!panel.hidden) $('camera-select').focus();
  });
  document.addEventListener('keydown', (event) => {
    // Escape closes the devices panel and returns to its button.
    if (event.key !== 'Escape' || $('settings-panel').hidden || app.state !== 'in-call') return;
    $('settings-panel').hidden = true;
    $('toggle-settings').setAttribute('aria-pressed', 'false');
    $('toggle-settings').focus();
  });
  $('enable-sound').addEventListener('click', () => {
    for (const video of $('remote-videos').querySelectorAll('video')) {
      video.muted = false;
      video.play().catch(() => {});
    }
    $('enable-sound').hidden = true;
  });
  $('camera-select').addEventListener('change', (event) => switchDevice('video', event.target.value));
  $('mic-select').addEventListener('change', (event) => switchDevice('audio', event.target.value));
  navigator.mediaDevices?.addEventListener?.('devicechange', () => refreshDeviceLists());
  let toneBusy = false;
  $('speaker-test').addEventListener('click', async () => {
    if (toneBusy) return;
    toneBusy = true;
    $('speaker-test').setAttribute('aria-disabled', 'true');
    bind($('speaker-status'), 'check.speaker.playing');
    await playTestTone();
    bind($('speaker-status'), 'check.speaker.done');
    $('speaker-test').removeAttribute('aria-disabled');
    toneBusy = false;
  });
  window.addEventListener('pagehide', () => {
    if (app.signaling && !app.finished && app.state !== 'left') app.signaling.close(true);
  });
}

// ---------------------------------------------------------------- waiting list (doctors)

function relative(seconds) {
  if (seconds < 60) return t('rel.now');
  if (seconds < 3600) return t('rel.min', { n: Math.floor(seconds / 60) });
  return t('rel.hour', { n: Math.floor(seconds / 3600) });
}

function renderWaitingList(entries) {
  const list = $('waiting-list');
  const fresh = new Map(entries.map((entry) => [entry.peer_id, entry]));
  const removed = new Set();
  for (const item of [...list.children]) {
    if (!fresh.has(item.dataset.peerId)) {
      removed.add(item.dataset.peerId);
      item.remove();
    }
  }
  for (const entry of entries) {
    if (!app.waiting.has(entry.peer_id) && app.joinedCall && app.session?.doctor) {
      announce('wait.arrived', { name: entry.participant?.name || '' });
    }
    let item = list.querySelector(`li[data-peer-id="${CSS.escape(entry.peer_id)}"]`);
    if (!item) {
      item = $('waiting-entry-template').content.firstElementChild.cloneNode(true);
      item.dataset.peerId = entry.peer_id;
      const name = entry.participant?.name || '?';
      item.querySelector('.waiting-name').textContent = name;
      const admit = item.querySelector('.admit');
      const decline = item.querySelector('.decline');
      bind(admit, 'wait.admit');
      bind(decline, 'wait.decline');
      bindAttr(admit, 'aria-label', 'wait.admit.label', { name });
      bindAttr(decline, 'aria-label', 'wait.decline.label', { name });
      admit.addEventListener('click', () => decide(item, 'admit'));
      decline.addEventListener('click', () => decide(item, 'decline'));
      list.append(item);
    }
    item.dataset.since = String(entry.since);
  }
  app.waiting = fresh;
  $('waiting-count').textContent = String(entries.length);
  $('waiting-empty').hidden = entries.length > 0;
  $('waiting-panel').dataset.count = String(entries.length);
  refreshWaitingTimes();
  if (app.joinedCall) updateAlone();
  refocusAfterDecision(removed);
}

function decide(item, type) {
  // Where the keyboard goes once the entry has left the list (see renderWaitingList).
  app.decided = { peerId: item.dataset.peerId, index: [...item.parentElement.children].indexOf(item) };
  for (const button of item.querySelectorAll('button')) button.disabled = true;
  if (!app.signaling?.send({ type, peer_id: item.dataset.peerId })) {
    for (const button of item.querySelectorAll('button')) button.disabled = false;
    app.decided = null;
  }
}

/** After admit or decline: focus on the next waiting entry, else on the waiting room's heading. */
function refocusAfterDecision(removed) {
  const decided = app.decided;
  if (!decided || !removed.has(decided.peerId)) return;
  app.decided = null;
  const active = document.activeElement;
  // Only if the keyboard was on the entry (its disabled button lets go of the focus) or nowhere.
  if (active && active !== document.body && document.contains(active)) return;
  const next = $('waiting-list').children[decided.index];
  (next?.querySelector('button.admit') || $('waiting-panel-title')).focus();
}

function refreshWaitingTimes() {
  const now = Date.now() / 1000;
  for (const item of $('waiting-list').children) {
    const since = Number(item.dataset.since);
    const span = item.querySelector('.waiting-since');
    const time = relative(Math.max(0, now - since));
    span.textContent = t('wait.since', { time });
    span.title = new Date(since * 1000).toLocaleTimeString(currentLanguage());
  }
}

// ---------------------------------------------------------------- time and quality

function startCallTimers() {
  updateTime();
  $('time-remaining').hidden = false;
  app.timers.push(setInterval(updateTime, 5000));
  app.timers.push(setInterval(refreshWaitingTimes, 10000));
  app.timers.push(setInterval(sampleQuality, 2000));
}

function updateTime() {
  const box = $('time-remaining');
  if (!app.call?.ends_at) return;
  const left = app.call.ends_at - Date.now() / 1000;
  if (left <= 0 || app.timeOver) {
    bind(box, 'time.over');
    box.dataset.over = 'true';
  } else if (left < 60) {
    bind(box, 'time.remaining.short');
    box.dataset.over = 'soon';
  } else {
    bind(box, 'time.remaining', { min: Math.ceil(left / 60) });
    box.dataset.over = left < 300 ? 'soon' : 'false';
  }
  bindAttr(box, 'title', 'time.label');
}

function clock(epochSeconds) {
  const date = new Date(epochSeconds * 1000);
  return `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
}

/**
 * `time-over`: `ends_at` is the planned end. When the call ends is said only if the server sends
 * it (`closes_at`); the overtime grace is the server's setting.
 */
function timeOver(message) {
  app.timeOver = message;
  if (app.call) app.call.ends_at = message.ends_at ?? app.call.ends_at;
  updateTime();
  const args = { planned: clock(message.ends_at ?? app.call?.ends_at ?? Date.now() / 1000) };
  let key = 'time.over.ending';
  if (message.extendable) key = 'time.over.notice';
  else if (typeof message.closes_at === 'number') {
    key = 'time.over.ends-at';
    args.time = clock(message.closes_at);
  }
  showBanner(key, args, 'warning');
  if (app.state === 'waiting') bind($('waiting-hint'), key, args);
}

function classify(rtt, loss) {
  if (rtt === null && loss === null) return 'unknown';
  if ((rtt ?? 0) > 0.5 || (loss ?? 0) > 0.1) return 'poor';
  if ((rtt ?? 0) > 0.25 || (loss ?? 0) > 0.03) return 'fair';
  return 'good';
}

async function sampleQuality() {
  if (!app.mesh) return;
  for (const peer of app.mesh.list()) {
    let stats;
    try {
      stats = await app.mesh.stats(peer);
    } catch {
      continue;
    }
    const previous = peer.lastStats;
    peer.lastStats = stats;
    if (stats.connectionState === 'connected' && (stats.framesDecoded > 0 || stats.audioPackets > 0)) mediaFlowing(peer);
    if (stats.connectionState !== 'connected') {
      peer.quality = null;
      continue;
    }
    // Loss over the last interval, smoothed so that one bad second does not flip the verdict.
    let loss = peer.quality?.loss ?? null;
    if (previous) {
      const received = stats.packetsReceived - previous.packetsReceived;
      const lost = Math.max(0, stats.packetsLost - previous.packetsLost);
      if (received + lost >= 20) {
        const now = lost / (received + lost);
        loss = loss === null ? now : loss * 0.6 + now * 0.4;
      }
    }
    peer.quality = { level: classify(stats.rtt, loss), rtt: stats.rtt, loss };
  }
  renderQuality();
}

const rank = { good: 0, fair: 1, poor: 2 };

function renderQuality() {
  const box = $('quality');
  if (!app.mesh || !app.joinedCall) return;
  let worst = null;
  for (const peer of app.mesh.list()) {
    const tile = tileOf(peer.id);
    const q = peer.quality;
    if (tile) {
      const label = tile.querySelector('.tile-quality');
      if (q && q.level !== 'unknown') {
        label.dataset.level = q.level;
        label.textContent = t(`quality.${q.level}`);
        label.title = t('quality.detail', { rtt: Math.round((q.rtt ?? 0) * 1000), loss: ((q.loss ?? 0) * 100).toFixed(1) });
      } else {
        label.textContent = '';
      }
    }
    if (q && q.level !== 'unknown' && (!worst || rank[q.level] > rank[worst.level])) worst = q;
  }
  if (!worst) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.dataset.level = worst.level;
  box.textContent = `${t('quality.label')}: ${t(`quality.${worst.level}`)}`;
  box.title = t('quality.detail', { rtt: Math.round((worst.rtt ?? 0) * 1000), loss: ((worst.loss ?? 0) * 100).toFixed(1) });
}

// ---------------------------------------------------------------- test hooks

window.sprechstunde = {
  events,
  get state() {
    return document.body.dataset.state;
  },
  connections() {
    return app.mesh ? app.mesh.list().map((peer) => ({ peerId: peer.id, participant: peer.participant, pc: peer.pc })) : [];
  },
  async mediaStats() {
    if (!app.mesh) return [];
    const all = await Promise.all(app.mesh.list().map((peer) => app.mesh.stats(peer).catch(() => null)));
    return all
      .filter(Boolean)
      .map(({ peerId, participant, connectionState, framesDecoded, bytesReceived, candidateType }) => ({
        peerId,
        participant,
        connectionState,
        framesDecoded,
        bytesReceived,
        candidateType,
      }));
  },
  get peerId() {
    return app.signaling?.peerId ?? null;
  },
  /** Drops the signaling socket without a goodbye, as a network blip would (the page resumes). */
  dropSignaling() {
    app.signaling?.dropForTest();
  },
};

boot().catch((error) => {
  console.error('sprechstunde: start failed', error);
  fail('unknown', String(error?.message || error));
});
