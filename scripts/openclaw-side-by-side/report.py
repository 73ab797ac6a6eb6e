#!/usr/bin/env python3
"""Normalises the captures of scripts/openclaw-side-by-side.sh and writes the side-by-side report.

    python3 report.py WORKDIR > docs/openclaw-side-by-side.md

WORKDIR holds `openclaw/` and `switchboard/`, each with `<step>.json` (the CLI's stdout),
`<step>.err` (its stderr), `<step>.rc` (its exit code) for every step in STEPS, `events.jsonl`
(the capture client's frames), and `meta.txt` (key=value lines written by the script).

For each step the report shows both outputs, normalised (volatile ids and timestamps replaced by
placeholders, see `normalise`), and a verdict computed on the *raw* outputs: every path the dialect
promises (docs/openclaw-protocol.md §5/§6 as fixed by the issue-15 contract) must have the same
JSON type on both sides ("shape equal"), and paths marked `=` must also have the same value
(constants such as `status:"started"`, or the echoed text). Anything else is listed as "not
promised" for information and does not count.
"""
import json
import os
import re
import sys

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
PREFIXED_ID = re.compile(r"^([a-z]{2,8})_[0-9a-z]{8,}$")
TS_KEYS = {"ts", "timestamp", "snapshotAt", "recordTimestampMs", "acceptedAt"}
MS_KEYS = {"uptimeMs", "durationMs", "runtimeMs"}
OPAQUE_KEYS = {
    "sessionId": "<sessionId>",
    "connId": "<connId>",
    "bootId": "<bootId>",
    "buildId": "<buildId>",
    "nonce": "<nonce>",
    "deltaCursor": "<cursor>",
    "path": "<path>",
    "itemId": "<itemId>",
    "activeLeafEntryId": "<entryId>",
}


def is_ts_key(key):
    return key in TS_KEYS or key.endswith("At") or key.endswith("AtMs")


def normalise(value, key=None, parent=None):
    """Replaces volatile values by placeholders; keeps the structure and every other value."""
    if isinstance(value, dict):
        return {k: normalise(v, k, key) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, key, parent) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        if key and is_ts_key(key):
            return "<ts>"
        if key in MS_KEYS:
            return "<ms>"
        return value
    if isinstance(value, str):
        if key in OPAQUE_KEYS:
            return OPAQUE_KEYS[key]
        if key == "source" and parent == "transcriptPosition":
            return "<hash>"
        m = PREFIXED_ID.match(value)
        if m:
            return "<%s_…>" % m.group(1)
        return UUID.sub("<uuid>", value)
    return value


# ---------------------------------------------------------------- shapes

MISSING = object()


def jtype(v):
    if v is MISSING:
        return "absent"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def get(doc, path):
    """`a.b[0].c` → value or MISSING."""
    cur = doc
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            i = int(part[1:-1])
            if not isinstance(cur, list) or i >= len(cur):
                return MISSING
            cur = cur[i]
        else:
            if not isinstance(cur, dict) or part not in cur:
                return MISSING
            cur = cur[part]
    return cur


def short(v):
    if isinstance(v, str) and v.startswith("<") and v.endswith(">"):
        return v  # a placeholder
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 60 else s[:57] + "…"


def compare(oc, sb, promised):
    """promised: paths; suffix `=` compares values too, suffix `?` makes the path optional
    (compared only when both sides have it). Returns a list of differences (strings)."""
    diffs = []
    reported = []
    for spec in promised:
        optional = spec.endswith("?")
        same_value = spec.endswith("=")
        path = spec.rstrip("?=")
        if any(path.startswith(r + ".") or path.startswith(r + "[") for r in reported):
            continue  # its parent already differs
        a, b = get(oc, path), get(sb, path)
        ta, tb = jtype(a), jtype(b)
        if optional and (a is MISSING or b is MISSING):
            continue
        if ta != tb:
            reported.append(path)
            diffs.append("`%s`: OpenClaw %s, Switchboard %s" % (
                path, ta if a is MISSING else "%s %s" % (ta, short(normalise(a, path.split(".")[-1]))),
                tb if b is MISSING else "%s %s" % (tb, short(normalise(b, path.split(".")[-1])))))
        elif same_value and a != b:
            diffs.append("`%s`: OpenClaw %s, Switchboard %s" % (path, short(a), short(b)))
    return diffs


def last_key(path):
    return re.sub(r"\[\d+\]$", "", path.split(".")[-1])


def value_notes(oc, sb, promised):
    """Promised fields compared by type only whose (normalised) scalar values differ."""
    notes = []
    for spec in promised:
        if spec.endswith("="):
            continue
        path = spec.rstrip("?")
        a, b = get(oc, path), get(sb, path)
        if a is MISSING or b is MISSING or isinstance(a, (dict, list)) or jtype(a) != jtype(b):
            continue
        na, nb = normalise(a, last_key(path)), normalise(b, last_key(path))
        if na != nb:
            notes.append("`%s`: OpenClaw %s, Switchboard %s" % (path, short(na), short(nb)))
    return notes


def extras(oc, sb, paths, promised):
    """Keys not promised that only one side has, in the objects at `paths` ('' = the root)."""
    out = []
    promised_paths = {spec.rstrip("?=") for spec in promised}
    for p in paths:
        a = oc if p == "" else get(oc, p)
        b = sb if p == "" else get(sb, p)
        if not isinstance(a, dict) or not isinstance(b, dict):
            continue
        prefix = p + "." if p else ""
        only_a = sorted(k for k in set(a) - set(b) if prefix + k not in promised_paths)
        only_b = sorted(k for k in set(b) - set(a) if prefix + k not in promised_paths)
        where = "`%s`" % p if p else "top level"

        def names(keys):
            if not keys:
                return "—"
            shown = ", ".join(keys[:15])
            return shown + (" … (+%d more)" % (len(keys) - 15) if len(keys) > 15 else "")
        if only_a or only_b:
            out.append("%s — only OpenClaw: %s; only Switchboard: %s" % (
                where, names(only_a), names(only_b)))
    return out


# ---------------------------------------------------------------- the calls

SESSION_ROW = ["key=", "sessionId", "agentId=", "kind=", "createdAt", "updatedAt", "status=",
               "hasActiveRun=", "activeRunIds", "archived=", "derivedTitle?"]

STEPS = [
    {
        "name": "sessions.list.before",
        "title": "`sessions.list` on an empty store",
        "command": "gateway call sessions.list --json",
        "promised": ["sessions", "count=", "hasMore=", "defaults", "defaults.model", "defaults.modelProvider"],
        "extras": ["", "defaults"],
    },
    {
        "name": "chat.send",
        "title": "`chat.send` (answers at once; the run streams afterwards)",
        "command": "gateway call chat.send --params '{\"sessionKey\":\"agent:main:main\",\"message\":\"hello side by side\",\"idempotencyKey\":\"sbs-1\"}' --json",
        "promised": ["runId=", "status="],
        "extras": [""],
    },
    {
        "name": "chat.history",
        "title": "`chat.history` after that run",
        "command": "gateway call chat.history --params '{\"sessionKey\":\"agent:main:main\",\"limit\":4}' --json",
        "promised": [
            "sessionKey=", "sessionId", "messages", "hasMore=", "totalMessages=",
            "messages[0].role=", "messages[0].content=", "messages[0].timestamp",
            "messages[0].__openclaw", "messages[0].__openclaw.id", "messages[0].__openclaw.seq=",
            "messages[1].role=", "messages[1].content", "messages[1].content[0].type=",
            "messages[1].content[0].text=", "messages[1].timestamp", "messages[1].__openclaw.id",
            "messages[1].__openclaw.seq=", "messages[1].__openclaw.runId?", "messages[1].usage?",
            "sessionInfo", "sessionInfo.key=", "sessionInfo.sessionId", "sessionInfo.agentId=",
            "sessionInfo.hasActiveRun=", "sessionInfo.activeRunIds=",
        ],
        "extras": ["", "messages[0]", "messages[0].__openclaw", "messages[1]", "messages[1].__openclaw",
                   "messages[1].usage", "sessionInfo"],
    },
    {
        "name": "sessions.list.after",
        "title": "`sessions.list` after both runs, with `includeLastMessage`",
        "command": "gateway call sessions.list --params '{\"includeLastMessage\":true}' --json",
        "promised": ["sessions", "count=", "hasMore=", "defaults", "defaults.model", "defaults.modelProvider"]
        + ["sessions[0]." + p for p in SESSION_ROW] + ["sessions[0].lastMessagePreview="],
        "extras": ["", "sessions[0]"],
    },
]


def load_step(side_dir, name):
    out = {"rc": None, "json": None, "text": "", "err": ""}
    base = os.path.join(side_dir, name)
    if os.path.exists(base + ".rc"):
        out["rc"] = open(base + ".rc").read().strip()
    if os.path.exists(base + ".err"):
        out["err"] = open(base + ".err", errors="replace").read()
    if os.path.exists(base + ".json"):
        out["text"] = open(base + ".json", errors="replace").read()
        try:
            out["json"] = json.loads(out["text"])
        except ValueError:
            pass
    return out


def first_error_line(step):
    for line in (step["err"] + "\n" + step["text"]).splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if line and ("rror" in line or "fail" in line.lower() or "unknown" in line.lower()):
            return line[:200]
    lines = [l for l in (step["err"] + step["text"]).splitlines() if l.strip()]
    return (lines[-1][:200] if lines else "no output (rc %s)" % step["rc"])


# ---------------------------------------------------------------- formatting

def pretty(v, indent=0, width=100):
    """JSON with small values on one line, the rest expanded."""
    flat = json.dumps(v, ensure_ascii=False)
    if len(flat) + indent <= width or not isinstance(v, (dict, list)) or not v:
        return flat
    pad = " " * (indent + 2)
    if isinstance(v, dict):
        items = ["%s%s: %s" % (pad, json.dumps(k), pretty(x, indent + 2, width)) for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + pretty(x, indent + 2, width) for x in v]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def side_block(step):
    if step["json"] is not None:
        return "```json\n" + pretty(normalise(step["json"])) + "\n```"
    text = (step["text"] + step["err"]).strip() or "(no output)"
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return "```text\nexit code %s\n%s\n```" % (step["rc"], text[-3000:])


def two_columns(left, right):
    return ("<table>\n<tr><th>OpenClaw</th><th>Switchboard</th></tr>\n<tr><td valign=\"top\">\n\n"
            + left + "\n\n</td><td valign=\"top\">\n\n" + right + "\n\n</td></tr>\n</table>\n")


# ---------------------------------------------------------------- events

TERMINAL = ("final", "error", "aborted")


def load_events(side_dir):
    path = os.path.join(side_dir, "events.jsonl")
    frames = []
    if not os.path.exists(path):
        return frames
    for line in open(path, errors="replace"):
        line = line.strip()
        if not line:
            continue
        try:
            frames.append(json.loads(line))
        except ValueError:
            frames.append({"dir": "raw", "frame": {"line": line}})
    return frames


def run_frames(frames):
    """The frames from the chat.send request on (the handshake is left out)."""
    for i, f in enumerate(frames):
        fr = f.get("frame") or {}
        if f.get("dir") == ">>" and fr.get("method") == "chat.send":
            return frames[i:]
    return []


def classify(frame):
    if frame.get("type") != "event":
        return None
    p = frame.get("payload") or {}
    if frame.get("event") == "chat":
        return "chat " + str(p.get("state"))
    if frame.get("event") == "agent" and p.get("stream") == "lifecycle":
        return "agent lifecycle " + str((p.get("data") or {}).get("phase"))
    return None


def label(frame):
    """A short name for a received frame, for the list of frames in order."""
    if frame.get("type") != "event":
        return str(frame.get("type"))
    p = frame.get("payload") or {}
    if frame.get("event") == "agent" and p.get("stream") and p.get("stream") != "lifecycle":
        return "agent " + str(p.get("stream"))
    return classify(frame) or str(frame.get("event"))


EVENT_SPECS = [
    ("agent lifecycle start", ["event=", "seq", "payload.runId=", "payload.sessionKey=", "payload.sessionId",
                               "payload.stream=", "payload.data.phase=", "payload.data.startedAt",
                               "payload.seq", "payload.ts"]),
    ("chat delta", ["event=", "seq", "payload.runId=", "payload.sessionKey=", "payload.seq", "payload.state=",
                    "payload.deltaText", "payload.message", "payload.message.role=", "payload.message.content",
                    "payload.message.content[0].type=", "payload.message.content[0].text",
                    "payload.message.timestamp"]),
    ("agent lifecycle end", ["event=", "seq", "payload.runId=", "payload.sessionKey=", "payload.stream=",
                             "payload.data.phase=", "payload.data.stopReason=", "payload.data.aborted=",
                             "payload.seq", "payload.ts"]),
    ("chat final", ["event=", "seq", "payload.runId=", "payload.sessionKey=", "payload.seq", "payload.state=",
                    "payload.stopReason=", "payload.message", "payload.message.role=", "payload.message.content[0].type=",
                    "payload.message.content[0].text=", "payload.message.timestamp"]),
]


def ordering_checks(all_frames, run_id):
    """Properties the contract promises about the frames of a run; returns (ok, [notes])."""
    notes = []
    ok = True
    frames = run_frames(all_frames)
    received = [f["frame"] for f in frames if f.get("dir") == "<<" and isinstance(f.get("frame"), dict)]
    events = [f for f in received if f.get("type") == "event"]
    if not received:
        return False, ["no frames after chat.send"]
    # 1. frame seq 1, 2, 3… on the connection: every event after hello-ok is numbered
    after_hello = []
    seen_hello = False
    for f in all_frames:
        fr = f.get("frame") if isinstance(f.get("frame"), dict) else {}
        if f.get("dir") == "<<" and fr.get("type") == "res" and (fr.get("payload") or {}).get("type") == "hello-ok":
            seen_hello = True
        elif seen_hello and f.get("dir") == "<<" and fr.get("type") == "event":
            after_hello.append(fr)
    seqs = [e.get("seq") for e in after_hello]
    if any(not isinstance(s, int) for s in seqs):
        ok = False
        notes.append("events without a frame `seq`: %s" % ", ".join(
            e.get("event", "?") for e in after_hello if not isinstance(e.get("seq"), int)))
    else:
        gaps = [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1]
        if seqs and seqs[0] != 1:
            notes.append("first event frame has `seq` %s (1 expected)" % seqs[0])
            ok = False
        if gaps:
            ok = False
            notes.append("frame `seq` gaps: %s" % ", ".join("%s→%s" % g for g in gaps))
    # 2. the chat.send ack precedes the run's events
    ack_at = next((i for i, f in enumerate(received) if f.get("type") == "res"), None)
    first_run_event = next((i for i, f in enumerate(received) if f.get("type") == "event"
                            and (f.get("payload") or {}).get("runId") == run_id), None)
    if ack_at is None:
        ok = False
        notes.append("no `res` for chat.send")
    elif first_run_event is not None and first_run_event < ack_at:
        ok = False
        notes.append("a run event arrived before the chat.send ack")
    run_events = [f for f in events if (f.get("payload") or {}).get("runId") == run_id]
    kinds = [classify(f) for f in run_events]
    # 3. lifecycle end before chat final
    if "chat final" in kinds and "agent lifecycle end" in kinds:
        if kinds.index("agent lifecycle end") > kinds.index("chat final"):
            ok = False
            notes.append("`chat final` came before the lifecycle `end`")
    # 4. exactly one terminal chat event, last of the run's chat events
    terminals = [k for k in kinds if k and k.startswith("chat ") and k[5:] in TERMINAL]
    if len(terminals) != 1:
        ok = False
        notes.append("%d terminal chat events" % len(terminals))
    # 5. payload.seq increases within the run (per event kind stream)
    for ev in ("chat", "agent"):
        ps = [(f.get("payload") or {}).get("seq") for f in run_events if f.get("event") == ev]
        if any(not isinstance(s, int) for s in ps):
            ok = False
            notes.append("`%s` events without a numeric `payload.seq`" % ev)
        elif any(b < a for a, b in zip(ps, ps[1:])):
            ok = False
            notes.append("`%s` payload.seq decreases: %s" % (ev, ps))
    # 6. deltas are cumulative: deltaText pieces add up to the final text, message.text grows
    final = next((f for f in run_events if classify(f) == "chat final"), None)
    deltas = [f["payload"] for f in run_events if classify(f) == "chat delta"]
    if final is not None and deltas:
        final_text = get(final, "payload.message.content[0].text")
        joined = "".join(d.get("deltaText") or "" for d in deltas)
        texts = [get(d, "message.content[0].text") for d in deltas]
        if joined != final_text:
            ok = False
            notes.append("deltaText pieces %s do not add up to the final text %s" % (short(joined), short(final_text)))
        if any(not isinstance(t, str) or not isinstance(final_text, str) or not final_text.startswith(t) for t in texts):
            ok = False
            notes.append("a delta's `message` text is not a prefix of the final text")
    elif not deltas:
        ok = False
        notes.append("no `chat` delta")
    return ok, notes


def event_lines(frames):
    lines = []
    for f in run_frames(frames):
        d = f.get("dir")
        if d in (">>", "<<"):
            lines.append(d + " " + json.dumps(normalise(f.get("frame")), ensure_ascii=False, separators=(",", ":")))
        else:
            lines.append("-- %s %s" % (d, json.dumps(f.get("frame"), ensure_ascii=False)))
    return lines


# ---------------------------------------------------------------- the report

def read_meta(side_dir):
    meta = {}
    path = os.path.join(side_dir, "meta.txt")
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


def main():
    work = sys.argv[1]
    oc_dir, sb_dir = os.path.join(work, "openclaw"), os.path.join(work, "switchboard")
    meta = read_meta(work)
    out = []
    summary = []
    w = out.append
    w("# OpenClaw gateway and Switchboard, side by side\n")
    w("Generated by [`scripts/openclaw-side-by-side.sh`](../scripts/openclaw-side-by-side.sh) — do not edit by hand; "
      "re-run the script instead. The same `openclaw gateway call …` commands (and one run recorded by the "
      "capture client) against the real OpenClaw gateway and against Switchboard's OpenClaw dialect "
      "(issue 15, \"what it must show\" #3).\n")
    w("- OpenClaw: `openclaw@%s`, `gateway run --allow-unconfigured --auth token --bind loopback`, its model "
      "a local mock that echoes the user's text word by word (`scripts/openclaw-side-by-side/mock_model.py`)."
      % meta.get("openclaw_version", "?"))
    w("- Switchboard: `target/debug/switchboard serve` at commit `%s`, agent `main` = echo with "
      "`chunk_delay_ms = %s`, the admin token; the CLI's URL `ws://127.0.0.1:PORT/ws`."
      % (meta.get("switchboard_commit", "?"), meta.get("chunk_delay_ms", "?")))
    w("- Recorded %s. Volatile values are replaced by placeholders (`<sessionId>`, `<ts>`, `<uuid>`, "
      "`<ses_…>`…); the verdicts are computed on the raw outputs.\n" % meta.get("date", "?"))
    w("To re-record: `scripts/openclaw-setup.sh` once, then `scripts/openclaw-side-by-side.sh` (about two "
      "minutes; not part of CI). The raw captures stay in the script's work directory.\n")
    w("**Verdicts.** Each verdict checks the fields the dialect promises (issue 15's decisions, SPEC §16; "
      "docs/openclaw-protocol.md §5–§6): each must have the same JSON type on both sides; fields marked `=` "
      "(a constant such as `status:\"started\"`, or the echoed text) must also have the same value; fields "
      "marked `?` are optional (compared when both have them). \"shape equal\" means all of them hold; "
      "\"differs: …\" lists each that does not. Everything else — fields only one side sends (OpenClaw's rows "
      "carry dozens the dialect does not imitate: placement, thinking levels, participants…), values of "
      "fields compared by type only — is listed under *not compared by the verdict*, for information.\n")

    for step in STEPS:
        a, b = load_step(oc_dir, step["name"]), load_step(sb_dir, step["name"])
        w("## %s\n" % step["title"])
        w("`openclaw %s`\n" % step["command"])
        if a["json"] is None or b["json"] is None:
            problems = []
            if a["json"] is None:
                problems.append("OpenClaw call failed: " + first_error_line(a))
            if b["json"] is None:
                problems.append("Switchboard call failed: " + first_error_line(b))
            verdict = "differs: " + "; ".join(problems)
            w("**Verdict: %s**\n" % verdict)
        else:
            diffs = compare(a["json"], b["json"], step["promised"])
            verdict = "shape equal" if not diffs else "differs: " + "; ".join(diffs)
            w("**Verdict: %s** (%d promised fields)\n" % (verdict, len(step["promised"])))
            w("Compared: %s\n" % ", ".join("`%s`" % p for p in step["promised"]))
            ex = ["fields only one side has, in " + x for x in extras(a["json"], b["json"], step["extras"], step["promised"])]
            ex += ["values that differ (type promised, value not): " + x for x in value_notes(a["json"], b["json"], step["promised"])]
            if ex:
                w("<details><summary>not compared by the verdict (information only)</summary>\n")
                for line in ex:
                    w("- " + line)
                w("\n</details>\n")
        summary.append((step["title"], verdict))
        w(two_columns(side_block(a), side_block(b)))

    # events
    w("## The event frames of one run\n")
    w("The capture client (`scripts/openclaw-side-by-side/cap.mjs`, appendix A of docs/openclaw-protocol.md) "
      "connects as `gateway-client`/`backend` with protocol 4, sends `chat.send {sessionKey:\"agent:main:main\", "
      "message:\"hello capture run\", idempotencyKey:\"sbs-cap-1\"}` and records every frame until the run's "
      "terminal `chat` event. Shown from the `chat.send` request on (the handshake is in the raw capture), "
      "one frame per line.\n")
    fa, fb = load_events(oc_dir), load_events(sb_dir)
    ra, rb = run_frames(fa), run_frames(fb)
    diffs = []
    info = []
    if not ra or not rb:
        if not ra:
            diffs.append("OpenClaw capture has no run" + (" (%s)" % short(fa[-1]) if fa else ""))
        if not rb:
            diffs.append("Switchboard capture has no run" + (" (%s)" % short(fb[-1]) if fb else ""))
    else:
        def pick(frames, kind):
            for f in frames:
                fr = f.get("frame") or {}
                if f.get("dir") == "<<" and classify(fr) == kind and (fr.get("payload") or {}).get("runId") == "sbs-cap-1":
                    return fr
            return MISSING

        def ack(frames):
            return next((f["frame"] for f in frames if f.get("dir") == "<<" and (f.get("frame") or {}).get("type") == "res"), MISSING)

        d = compare(ack(ra), ack(rb), ["ok=", "payload.runId=", "payload.status="])
        diffs += ["chat.send ack " + x for x in d]
        for kind, spec in EVENT_SPECS:
            ea, eb = pick(ra, kind), pick(rb, kind)
            if ea is MISSING and eb is MISSING:
                diffs.append("`%s`: absent on both sides" % kind)
                continue
            if ea is MISSING or eb is MISSING:
                diffs.append("`%s`: %s" % (kind, "absent in OpenClaw" if ea is MISSING else "absent in Switchboard"))
                continue
            diffs += ["`%s` %s" % (kind, x) for x in compare(ea, eb, spec)]
            counters = [p for p in spec if last_key(p.rstrip("?=")) != "seq"]  # counters differ by design
            info += ["values that differ in `%s` (type promised, value not): %s" % (kind, x) for x in value_notes(ea, eb, counters)]
        for side, frames in (("OpenClaw", ra), ("Switchboard", rb)):
            other = sorted({"`%s` (runId %s)" % (label(f["frame"]), short(normalise((f["frame"].get("payload") or {}).get("runId"))))
                            for f in frames if f.get("dir") == "<<" and (f.get("frame") or {}).get("type") == "event"
                            and isinstance((f["frame"].get("payload") or {}).get("runId"), str)
                            and f["frame"]["payload"]["runId"] != "sbs-cap-1"})
            if other:
                info.append("%s sent events of the run under another runId than the client's: %s" % (side, ", ".join(other)))
    checks = []
    for side, frames in (("OpenClaw", ra), ("Switchboard", rb)):
        if frames:
            ok, notes = ordering_checks(fa if side == "OpenClaw" else fb, "sbs-cap-1")
            checks.append((side, ok, notes))
            if not ok:
                diffs.append("%s ordering: %s" % (side, "; ".join(notes)))
    verdict = "shape equal" if not diffs else "differs: " + "; ".join(diffs)
    summary.append(("the event frames of one run", verdict))
    w("**Verdict: %s**\n" % verdict)
    fields = "; ".join("%s: %s" % (k, ", ".join("`%s`" % p for p in spec)) for k, spec in EVENT_SPECS)
    w("Compared: the `chat.send` ack (`ok=`, `payload.runId=`, `payload.status=`); the first `agent` lifecycle "
      "`start`, the first `chat` `delta`, the lifecycle `end` and the `chat` `final` (%s); and on each side: "
      "frame `seq` 1, 2, 3… without gaps from hello on, the ack before the run's first event, lifecycle `end` "
      "before `chat final`, exactly one terminal `chat` event, `payload.seq` increasing per run, the "
      "`deltaText` pieces adding up to the final text and each delta's `message` a prefix of it.\n" % fields)
    for side, ok, notes in checks:
        w("- %s: %s" % (side, "all hold" if ok else "; ".join(notes)))
    w("")
    for label_, frames in (("OpenClaw", fa), ("Switchboard", fb)):
        close = next((f.get("frame") for f in frames if f.get("dir") == "close"), None)
        if close is not None:
            info.append("%s: the capture client's `close(1000)` ended with code %s" % (label_, close.get("code")))
    if info:
        w("<details><summary>not compared by the verdict (information only)</summary>\n")
        for line in info:
            w("- " + line)
        w("\n</details>\n")
    if ra and rb:
        ka = [label(f["frame"]) for f in ra if f.get("dir") == "<<"]
        kb = [label(f["frame"]) for f in rb if f.get("dir") == "<<"]
        w("Frames received, in order — OpenClaw: %s. Switchboard: %s.\n" % (
            ", ".join("`%s`" % k for k in ka), ", ".join("`%s`" % k for k in kb)))
    w(two_columns("```text\n" + "\n".join(event_lines(fa) or ["(no capture)"]) + "\n```",
                  "```text\n" + "\n".join(event_lines(fb) or ["(no capture)"]) + "\n```"))

    w("## Summary\n")
    w("| call | verdict |")
    w("|---|---|")
    for title, v in summary:
        w("| %s | %s |" % (title, v.replace("|", "\\|")))
    w("")
    w("Raw captures: the script's work directory (`openclaw/` and `switchboard/`: each call's stdout, stderr "
      "and exit code, `events.jsonl` with every frame including the handshake; the servers' logs).")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
