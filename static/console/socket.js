// The console's websocket (/ws/console, authenticated by the session cookie).
// Each (re)connection says hello with the chats already on screen and the last seq
// seen in each, so the server replays only what we missed (docs/protocol.md).
import { ReconnectingSocket, socketUrl } from '../lib/socket.js';

// Named close codes (chat/protocol.py).
const WS_1008_POLICY_VIOLATION = 1008;
const WS_4401_LOGGED_OUT = 4401;

export class ConsoleConnection {
  /**
   * @param {object} options
   *   resumePoints() → {chat_id: last_seq}; onFrame(frame); onStatus(status);
   *   onLoggedOut() when the session is gone (close 4401)
   */
  constructor({ resumePoints, onFrame, onStatus, onLoggedOut }) {
    this.welcomed = false;
    this.socket = new ReconnectingSocket(socketUrl('/ws/console'), {
      onOpen: () => {
        const chats = resumePoints();
        this.socket.send(Object.keys(chats).length ? { type: 'hello', chats } : { type: 'hello' });
      },
      onFrame: (frame) => {
        if (frame.type === 'welcome') {
          this.welcomed = true;
          onStatus('connected');
        }
        if (frame.type !== 'pong') onFrame(frame);
      },
      onDown: ({ code, retryInMs }) => {
        this.welcomed = false;
        if (retryInMs === null) {
          onStatus('disconnected');
          if (code === WS_4401_LOGGED_OUT || code === WS_1008_POLICY_VIOLATION) onLoggedOut();
        } else {
          onStatus('reconnecting');
        }
      },
      // Logged out (or never logged in): reconnecting can't help.
      shouldReconnect: (code) => code !== WS_4401_LOGGED_OUT && code !== WS_1008_POLICY_VIOLATION,
    });
  }

  start() {
    this.socket.start();
  }

  stop() {
    this.welcomed = false;
    this.socket.stop();
  }

  send(frame) {
    if (!this.welcomed) return false;
    return this.socket.send(frame);
  }
}
