// Camera and microphone: the local stream, device lists, the microphone level meter and the
// speaker test tone (generated with WebAudio, no audio file).

let audioContext = null;

export function sharedAudioContext() {
  if (!audioContext) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    audioContext = new Context();
  }
  if (audioContext.state === 'suspended') audioContext.resume().catch(() => {});
  return audioContext;
}

// Browsers start audio only after a user gesture; resume on the first one.
for (const type of ['pointerdown', 'keydown']) {
  window.addEventListener(type, () => audioContext?.state === 'suspended' && audioContext.resume().catch(() => {}), {
    capture: true,
  });
}

/** Whether the embedding page's iframe grants `feature` (true when unknown or not framed). */
export function frameAllows(feature) {
  const policy = document.permissionsPolicy || document.featurePolicy;
  if (!policy || typeof policy.allowsFeature !== 'function') return true;
  try {
    return policy.allowsFeature(feature);
  } catch {
    return true;
  }
}

/** The kind of trouble behind a getUserMedia failure, for the help text. */
export function classifyMediaError(error) {
  const name = error?.name || 'Error';
  if (name === 'NotAllowedError' || name === 'PermissionDeniedError' || name === 'SecurityError') return 'denied';
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') return 'notfound';
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') return 'busy';
  if (name === 'TypeError' && !window.isSecureContext) return 'insecure';
  return 'other';
}

function constraint(deviceId) {
  return deviceId ? { deviceId: { exact: deviceId } } : true;
}

const videoShape = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24, max: 30 } };

/**
 * Camera and microphone together; if only one of them fails, the other alone.
 * Resolves {stream, error}: the stream holds what could be opened (maybe nothing), the error is
 * the first failure (null if both worked).
 */
export async function openLocalMedia({ cameraId, micId } = {}) {
  if (!navigator.mediaDevices?.getUserMedia) {
    const error = new Error('getUserMedia unavailable');
    error.name = window.isSecureContext ? 'NotFoundError' : 'TypeError';
    return { stream: new MediaStream(), error };
  }
  const audio = micId ? { deviceId: { exact: micId }, echoCancellation: true, noiseSuppression: true } : {
    echoCancellation: true, noiseSuppression: true,
  };
  const video = cameraId ? { ...videoShape, deviceId: { exact: cameraId } } : videoShape;
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio, video }), error: null };
  } catch (error) {
    if (classifyMediaError(error) === 'denied') return { stream: new MediaStream(), error };
    // One of the two may work on its own (no camera attached, say).
    const stream = new MediaStream();
    for (const kind of ['audio', 'video']) {
      try {
        const single = await navigator.mediaDevices.getUserMedia(kind === 'audio' ? { audio } : { video });
        for (const track of single.getTracks()) stream.addTrack(track);
      } catch {
        // keep the first error
      }
    }
    return { stream, error: stream.getTracks().length ? null : error, partial: stream.getTracks().length ? error : null };
  }
}

/** One new track of `kind` from device `deviceId`. */
export async function openTrack(kind, deviceId) {
  const constraints =
    kind === 'video'
      ? { video: deviceId ? { ...videoShape, deviceId: { exact: deviceId } } : videoShape }
      : { audio: deviceId ? { deviceId: { exact: deviceId }, echoCancellation: true, noiseSuppression: true } : true };
  const stream = await navigator.mediaDevices.getUserMedia(constraints);
  return stream.getTracks()[0];
}

export async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], mics: [] };
  const devices = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: devices.filter((d) => d.kind === 'videoinput' && d.deviceId),
    mics: devices.filter((d) => d.kind === 'audioinput' && d.deviceId),
  };
}

/** Follows the level of `track` on `meter` (0…1) until the returned stop function is called. */
export function meterLevel(track, meter) {
  const context = sharedAudioContext();
  if (!context || !track) {
    meter.value = 0;
    return () => {};
  }
  const source = context.createMediaStreamSource(new MediaStream([track]));
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  analyser.smoothingTimeConstant = 0.6;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let level = 0;
  let running = true;
  const tick = () => {
    if (!running) return;
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    const rms = Math.sqrt(sum / samples.length);
    // Speech sits around 0.02…0.2 RMS: map it onto the meter on a gentle curve.
    const target = Math.min(1, Math.sqrt(rms * 4));
    level = target > level ? target : level * 0.85 + target * 0.15;
    meter.value = Number(level.toFixed(3));
    setTimeout(tick, 60);
  };
  tick();
  return () => {
    running = false;
    try {
      source.disconnect();
      analyser.disconnect();
    } catch {
      // already gone
    }
    meter.value = 0;
  };
}

/** A short, friendly two-note tone; resolves when it has finished. */
export function playTestTone() {
  const context = sharedAudioContext();
  if (!context) return Promise.resolve(false);
  const start = context.currentTime + 0.05;
  const notes = [
    [523.25, 0],
    [659.25, 0.35],
    [783.99, 0.7],
  ];
  for (const [frequency, offset] of notes) {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = 'sine';
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.3, start + offset + 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.32);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(start + offset);
    oscillator.stop(start + offset + 0.34);
  }
  return new Promise((resolve) => setTimeout(() => resolve(true), 1150));
}
