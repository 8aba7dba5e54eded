// A short, soft chime for an agent's message that arrives while the widget is
// minimised or the tab hidden, so the customer hears the answer they are waiting for.
// Made with the Web Audio API (no file to download); the header's sound button turns
// it off and the choice is remembered. Audio is a nicety: when the browser has none,
// or blocks it until the visitor interacts, nothing plays and nothing throws.

// A burst of lines (or a reconnect's replay) rings once, not once per line.
const MIN_GAP_MS = 4_000;
const SOUND_KEY = 'chatdesk.sound';
// Two notes a sixth apart (A5, F#6), quiet and quickly fading: noticed, not startling.
const NOTES = [
  { hz: 880, at: 0, seconds: 0.35 },
  { hz: 1480, at: 0.12, seconds: 0.45 },
];
const VOLUME = 0.06;

export class Chime {
  /**
   * @param {object} options
   *   button   the header's toggle (aria-pressed = sound on)
   *   storage  get/set that survive a reload (connection.js `storage`)
   */
  constructor({ button, storage }) {
    this.button = button;
    this.storage = storage;
    this.on = storage.get(SOUND_KEY) !== 'off';
    this.lastAt = -Infinity;
    this.context = null;
    button.addEventListener('click', () => this.toggle());
    // Browsers let audio start only after a gesture in this frame: get ready on the first one.
    const unlock = () => this.audio();
    document.addEventListener('pointerdown', unlock, { once: true, capture: true });
    document.addEventListener('keydown', unlock, { once: true, capture: true });
    this.render();
  }

  toggle() {
    this.on = !this.on;
    this.storage.set(SOUND_KEY, this.on ? 'on' : 'off');
    this.render();
  }

  render() {
    this.button.setAttribute('aria-pressed', String(this.on));
    this.button.dataset.sound = this.on ? 'on' : 'off';
  }

  /** The page's AudioContext, created once; null where there is none. */
  audio() {
    try {
      const AudioContextClass = window.AudioContext || window.webkitAudioContext;
      if (!this.context && AudioContextClass) this.context = new AudioContextClass();
      const resumed = this.context?.state === 'suspended' ? this.context.resume() : null;
      resumed?.catch?.(() => {});
    } catch {
      this.context = null;
    }
    return this.context;
  }

  /** Ring, unless the sound is off or it rang less than MIN_GAP_MS ago. Never throws. */
  play(now = Date.now()) {
    if (!this.on || now - this.lastAt < MIN_GAP_MS) return false;
    this.lastAt = now;
    try {
      const context = this.audio();
      if (!context) return false;
      const start = context.currentTime + 0.02;
      for (const note of NOTES) {
        const oscillator = context.createOscillator();
        const gain = context.createGain();
        const begin = start + note.at;
        oscillator.type = 'sine';
        oscillator.frequency.setValueAtTime(note.hz, begin);
        gain.gain.setValueAtTime(0.0001, begin);
        gain.gain.exponentialRampToValueAtTime(VOLUME, begin + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, begin + note.seconds);
        oscillator.connect(gain);
        gain.connect(context.destination);
        oscillator.start(begin);
        oscillator.stop(begin + note.seconds + 0.05);
      }
      return true;
    } catch {
      return false;
    }
  }
}
