// Capture client (docs/openclaw-protocol.md, appendix A, narrowed to one run).
//
//   node cap.mjs URL TOKEN SESSION_KEY MESSAGE IDEMPOTENCY_KEY [TIMEOUT_MS]
//
// Connects as an OpenClaw `gateway-client` / `backend` (protocol 4/4; the real gateway refuses
// `openclaw-tui`/`ui` clients without a device identity), sends `chat.send {sessionKey, message,
// idempotencyKey}` and records every frame until the `chat` event of that run with a terminal state
// (`final`, `error`, `aborted`) arrives, then closes. One JSON line per frame on stdout:
// `{"dir":">>"|"<<","t":<ms since start>,"frame":{…}}`, then `{"dir":"close",…}`.
// Exit code 0 when a terminal chat event was seen, 2 on timeout, 3 when the socket closed early.
// Needs Node >= 22 (global WebSocket); the Node of the OpenClaw install has it.
const [, , url, token, sessionKey, message, idem, timeoutArg] = process.argv;
if (!url || !token || !sessionKey || !message || !idem) {
  console.error('usage: node cap.mjs URL TOKEN SESSION_KEY MESSAGE IDEMPOTENCY_KEY [TIMEOUT_MS]');
  process.exit(64);
}
const timeoutMs = Number(timeoutArg || 60000);
const t0 = Date.now();
const out = (dir, frame) => console.log(JSON.stringify({ dir, t: Date.now() - t0, frame }));
const ws = new WebSocket(url);
let nextId = 0;
let done = false;
const pending = new Map();

function req(method, params) {
  const id = String(++nextId);
  const frame = { type: 'req', id, method, params };
  out('>>', frame);
  ws.send(JSON.stringify(frame));
  return new Promise((resolve) => pending.set(id, resolve));
}

function finish(code) {
  if (done) return;
  done = true;
  clearTimeout(timer);
  try { ws.close(1000); } catch { /* already closed */ }
  // give the close handshake a moment, then leave regardless
  setTimeout(() => process.exit(code), 500);
  exitCode = code;
}
let exitCode = 0;
const timer = setTimeout(() => { out('timeout', { afterMs: timeoutMs }); finish(2); }, timeoutMs);

ws.onmessage = (m) => {
  let f;
  try { f = JSON.parse(typeof m.data === 'string' ? m.data : Buffer.from(m.data).toString()); }
  catch { out('<<raw', { data: String(m.data) }); return; }
  out('<<', f);
  if (f.type === 'res' && pending.has(f.id)) {
    if (f.ok && f.payload && f.payload.status === 'accepted') return; // interim ack
    pending.get(f.id)(f);
    pending.delete(f.id);
  }
  if (f.type === 'event' && f.event === 'connect.challenge') run();
  if (f.type === 'event' && f.event === 'chat' && f.payload && f.payload.runId === idem
      && ['final', 'error', 'aborted'].includes(f.payload.state)) finish(0);
};
ws.onclose = (e) => {
  out('close', { code: e.code, reason: e.reason });
  if (!done) { done = true; clearTimeout(timer); process.exit(3); }
  process.exit(exitCode);
};
ws.onerror = (e) => { out('error', { message: String(e.message || e.type || e) }); };

let started = false;
async function run() {
  if (started) return;
  started = true;
  const hello = await req('connect', {
    minProtocol: 4, maxProtocol: 4,
    client: { id: 'gateway-client', displayName: 'side-by-side', version: '2026.9.6', platform: 'linux', mode: 'backend', instanceId: 'sbs-capture' },
    caps: ['agent-kind', 'plugin-approvals', 'task-suggestions', 'tool-events'],
    role: 'operator',
    scopes: ['operator.admin', 'operator.read', 'operator.write', 'operator.approvals'],
    auth: { token },
  });
  if (!hello.ok) { finish(3); return; }
  const ack = await req('chat.send', { sessionKey, message, idempotencyKey: idem });
  if (!ack.ok) finish(3);
}
