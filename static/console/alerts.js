// Getting an agent's attention for a new offer: a short beep (WebAudio, no sound
// file to load) and a desktop notification when the agent allowed them.

let audio = null;

/** Browsers only allow sound after a user gesture: call this from a click or submit. */
export function unlockAudio() {
  try {
    audio ??= new AudioContext();
    if (audio.state === 'suspended') audio.resume();
  } catch {
    audio = null; // no WebAudio: we stay silent
  }
}

/** Two quick tones, ~0.3 s: noticeable without being shrill. */
export function beep() {
  if (!audio || audio.state !== 'running') return;
  const start = audio.currentTime;
  for (const [offset, frequency] of [[0, 880], [0.16, 1175]]) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = 'sine';
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.2, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.14);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(start + offset);
    oscillator.stop(start + offset + 0.15);
  }
}

export function notificationsSupported() {
  return typeof Notification !== 'undefined';
}

export function canAskForNotifications() {
  return notificationsSupported() && Notification.permission === 'default';
}

export async function askForNotifications() {
  if (!canAskForNotifications()) return notificationsSupported() ? Notification.permission : 'denied';
  return Notification.requestPermission();
}

/** Show a desktop notification if permitted; clicking it brings the console forward. */
export function notifyDesktop(title, body, tag) {
  if (!notificationsSupported() || Notification.permission !== 'granted') return;
  try {
    const notification = new Notification(title, { body, tag });
    notification.onclick = () => {
      window.focus();
      notification.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker; the beep remains.
  }
}
