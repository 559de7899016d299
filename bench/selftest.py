#!/usr/bin/env python3
"""bench/selftest.py: checks loadclient against a fake SSE server.

    bench/selftest.py [PATH/TO/loadclient]     (default build/bench/loadclient)

The fake server (threads, 127.0.0.1, an ephemeral port) stores posted
messages and serves them as event streams framed in awkward but legal ways,
one way per run:

  chunked-crlf  HTTP/1.1 chunked, CRLF line endings, chunks split mid-line
  cr            lone CR line endings, a UTF-8 BOM first, comments, an
                unknown field, multi-line data
  close         no chunking, Connection: close, LF endings, byte-by-byte
  lifetime      every stream ends after 0.7 s (chunked terminator), the
                client must reconnect with Last-Event-ID and miss nothing
  oneshot       each answer sends what is new and ends (retry: 100)
  dup           the server sends every event twice (must count duplicates)
  drop          the server skips message seq=3 (must count losses)
  stall-end     as chunked, with --stalled 1 --pad 1900: the stalled stream
                gets a 40 KB chunk and the last chunk, the connection kept
                open as nginx keeps it (must be counted ended, every byte)
  stall-open    as chunked, with --stalled 1: the stalled stream gets a
                40 KB chunk and no end (must be counted open)
  two-fronts    --url-stream and --url-post twice (front=a chunked, front=b
                close), posts in a closed loop: the listeners and the
                posters must be spread over both, and the report's
                "fronts" must count each front whole

and checks the counts loadclient reports.  Exit status 0 when all pass.
Bounded: every loadclient run has --timeout 20; the server threads are
daemons and die with this process.
"""
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time

LOCK = threading.Condition()
MESSAGES = []  # (id, channel, data)
FRONTS = {}    # "GET a", "POST b": requests seen with front=a / front=b


class Handler(socketserver.StreamRequestHandler):
    def read_request(self):
        line = self.rfile.readline()
        if not line:
            return None
        method, target, _ = line.decode().split(" ", 2)
        headers = {}
        while True:
            h = self.rfile.readline().decode()
            if h in ("\r\n", "\n", ""):
                break
            k, v = h.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = b""
        if "content-length" in headers:
            body = self.rfile.read(int(headers["content-length"]))
        return method, target, headers, body

    def handle(self):
        while True:
            req = self.read_request()
            if req is None:
                return
            method, target, headers, body = req
            if "front=" in target:
                key = method + " " + target.split("front=")[1].split("&")[0]
                with LOCK:
                    FRONTS[key] = FRONTS.get(key, 0) + 1
            if method == "POST":
                msg = json.loads(body)
                with LOCK:
                    mid = len(MESSAGES) + 1
                    data = json.dumps({"id": mid, "channel": msg["channel"],
                                       "user": msg["user"], "text": msg["text"]})
                    MESSAGES.append((mid, msg["channel"], data))
                    LOCK.notify_all()
                out = json.dumps({"id": mid}).encode() + b"\n"
                self.wfile.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(out) + out)
                self.wfile.flush()
                continue
            mode = target.split("mode=")[1].split("&")[0]
            channel = target.split("channel=")[1].split("&")[0]
            if "stalled" in headers.get("user-agent", ""):
                self.stalled(mode)
                return
            last = int(headers.get("last-event-id", "0") or 0)
            self.stream(mode, channel, last)
            return

    STALLED_BYTES = 40000

    def stalled(self, mode):
        """A stalled stream: a chunk of 40 KB of comment, then the last
        chunk (the connection kept open) or nothing."""
        body = b": " + b"s" * (self.STALLED_BYTES - 3) + b"\n"
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         + b"%x\r\n" % len(body) + body + b"\r\n")
        if mode == "stall-end":
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        time.sleep(25)   # open past the client's end; a daemon thread

    def frame(self, mode, mid, data):
        if mode == "cr":
            half = len(data) // 2
            # a multi-line payload: the client joins the lines with LF
            return (f"id: {mid}\rfoo: ignored\r: a comment\rdata: {data[:half]}\r"
                    f"data:{data[half:]}\r\r")
        nl = "\r\n" if mode == "chunked-crlf" else "\n"
        return f"id: {mid}{nl}data: {data}{nl}{nl}"

    def stream(self, mode, channel, last):
        chunked = mode != "close"
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                "Cache-Control: no-cache\r\n")
        head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else "Connection: close\r\n\r\n"
        self.wfile.write(head.encode())

        def send(text):
            raw = text.encode()
            if mode == "close":
                for i in range(len(raw)):
                    self.wfile.write(raw[i:i + 1])
                    self.wfile.flush()
                return
            if mode == "chunked-crlf" and len(raw) > 3:
                parts = [raw[:len(raw) // 3], raw[len(raw) // 3:]]
            else:
                parts = [raw]
            for p in parts:
                self.wfile.write(b"%x\r\n" % len(p) + p + b"\r\n")
                self.wfile.flush()

        hello = ": hello\n\n" if mode != "cr" else "\ufeff: hello\r\r"
        retry = "retry: 100\n" if mode in ("oneshot", "lifetime") else "retry: 500\n"
        send(retry + hello)
        start = time.time()
        sent = last
        try:
            while True:
                with LOCK:
                    new = [m for m in MESSAGES if m[0] > sent and m[1] == channel]
                    if not new and mode != "oneshot":
                        LOCK.wait(0.2)
                        new = [m for m in MESSAGES if m[0] > sent and m[1] == channel]
                for mid, _, data in new:
                    if mode == "drop" and "seq=3 " in data:
                        sent = mid
                        continue
                    text = self.frame(mode, mid, data)
                    send(text + text if mode == "dup" else text)
                    sent = mid
                if mode == "oneshot" or (mode == "lifetime" and time.time() - start > 0.7):
                    break
                if time.time() - start > 30:
                    break
        except (BrokenPipeError, ConnectionResetError):
            return
        if chunked:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    client = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "bench", "loadclient")
    srv = Server(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cases = {
        "chunked-crlf": dict(lost=0, dup=0),
        "cr": dict(lost=0, dup=0),
        "close": dict(lost=0, dup=0),
        "lifetime": dict(lost=0, dup=0, reconnects=True),
        "oneshot": dict(lost=0, dup=0, reconnects=True),
        "dup": dict(lost=0, dup="n*m"),
        "drop": dict(lost="n", dup=0),
        "stall-end": dict(lost=0, dup=0, args=["--stalled", "1", "--pad", "1900"],
                          stalled="ended"),
        "stall-open": dict(lost=0, dup=0, args=["--stalled", "1"], stalled="open"),
        "two-fronts": dict(lost=0, dup=0, fronts=True, args=["-r", "0"]),
    }
    n, m = 5, 12
    failures = 0
    for mode, want in cases.items():
        base = f"http://127.0.0.1:{port}"
        if want.get("fronts"):
            urls = ["--url-stream", f"{base}/events?mode=chunked-crlf&front=a",
                    "--url-stream", f"{base}/events?mode=close&front=b",
                    "--url-post", f"{base}/post?front=a", "--url-post", f"{base}/post?front=b",
                    "-k", "2"]   # -r 0 (closed loop): both posters busy
        else:
            urls = ["--url-stream", f"{base}/events?mode={mode}", "--url-post", f"{base}/post"]
        out = subprocess.run(
            [client] + urls + ["--channel", f"self-{mode}",
             "-n", str(n), "-m", str(m), "-r", "20", "--warmup", "200", "--drain", "2000",
             "--timeout", "20", "--quiet"] + want.get("args", []),
            capture_output=True, text=True, timeout=30)
        try:
            r = json.loads(out.stdout)
        except ValueError:
            print(f"FAIL {mode}: no JSON (exit {out.returncode}): {out.stderr[:300]}")
            failures += 1
            continue
        d, L = r["delivery"], r["listeners"]
        exp_lost = n if want["lost"] == "n" else want["lost"]
        exp_dup = n * m if want["dup"] == "n*m" else want["dup"]
        problems = []
        if r["posts"]["ok"] != m:
            problems.append(f"posts ok {r['posts']['ok']} != {m}")
        if d["lost"] != exp_lost:
            problems.append(f"lost {d['lost']} != {exp_lost}")
        if d["duplicates"] != exp_dup:
            problems.append(f"duplicates {d['duplicates']} != {exp_dup}")
        if mode != "dup" and d["out_of_order"] != 0:
            problems.append(f"out_of_order {d['out_of_order']}")
        if d["id_differs_from_201"] != 0 or d["id_mismatch"] != 0:
            problems.append("ids disagree")
        if want.get("reconnects") and L["reconnects"] == 0:
            problems.append("no reconnects")
        if L["opened"] != n or L["proto_errors"] != 0 or L["oversize"] != 0:
            problems.append(f"listeners {L}")
        if d["latency_ms"]["count"] and d["latency_ms"]["p50"] <= 0:
            problems.append("latency not positive")
        st = r.get("stalled", {})
        if want.get("stalled"):
            headers = 150   # the status line and headers, roughly
            if st.get(want["stalled"]) != 1 or st.get("count") != 1:
                problems.append(f"stalled {st}, want 1 {want['stalled']}")
            if want["stalled"] == "ended" and not (
                    Handler.STALLED_BYTES < st.get("bytes", 0) < Handler.STALLED_BYTES + headers):
                problems.append(f"stalled bytes {st.get('bytes')}")
        elif st.get("count") != 0:
            problems.append(f"stalled {st}")
        if want.get("fronts"):
            fr = r.get("fronts", [])
            # listeners 0, 2, 4 on a, 1, 3 on b; each of the m posts counted
            # once per listener, on its own front
            if [f.get("listeners") for f in fr] != [3, 2]:
                problems.append(f"fronts {[f.get('listeners') for f in fr]}, want [3, 2]")
            elif [(f["expected"], f["delivered"], f["lost"], f["duplicates"]) for f in fr] != \
                    [(3 * m, 3 * m, 0, 0), (2 * m, 2 * m, 0, 0)]:
                problems.append(f"fronts {fr}")
            if FRONTS.get("GET a", 0) < 3 or FRONTS.get("GET b", 0) < 2 or \
                    FRONTS.get("POST a", 0) == 0 or FRONTS.get("POST b", 0) == 0:
                problems.append(f"requests per front {FRONTS}")
        elif "fronts" in r:
            problems.append("a fronts array with one front")
        status = "ok  " if not problems else "FAIL"
        failures += bool(problems)
        print(f"{status} {mode:13} delivered {d['delivered']}/{d['expected']}, lost {d['lost']},"
              f" dup {d['duplicates']}, ooo {d['out_of_order']}, reconnects {L['reconnects']},"
              f" p50 {d['latency_ms']['p50']:.2f} ms {'; '.join(problems)}")
    srv.shutdown()
    print("selftest:", "all passed" if failures == 0 else f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
