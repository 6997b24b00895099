#!/usr/bin/env python3
"""Drive the dashboard (/ui/) in headless Chromium over the DevTools protocol (a pipe, no
network port) and check the rendered DOM against a running node:
  - the cluster panel lists the members, the jobs table lists the jobs with their state;
  - a click on a job's Pause button pauses it in the cluster (read back over REST) and the row
    shows "paused";
  - an event that happens elsewhere (a run started over REST) reaches the page's event list
    through the live stream.
Usage: dashboard_check.py HTTP_ADDR NS/JOB OUTDIR. Exits 0 when every check holds."""
import base64, json, os, subprocess, sys, tempfile, time, urllib.request

addr, key, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
base = f"http://{addr}"


def rest(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read() or b"null")


class Chromium:
    def __init__(self):
        exe = next((p for p in ("chromium", "chromium-browser", "google-chrome")
                    if any(os.access(os.path.join(d, p), os.X_OK)
                           for d in os.environ.get("PATH", "").split(":"))), None)
        if exe is None:
            print("dashboard: chromium not found (scripts/install-deps installs it)")
            sys.exit(1)
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="raftcron-ui-")

        def wire():
            # Through high numbers first: a pipe's own descriptor may be 3 or 4.
            a, b = os.dup(cmd_r), os.dup(res_w)
            a, b = os.dup2(a, 100), os.dup2(b, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--remote-debugging-pipe",
             f"--user-data-dir={self.profile}", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(outdir, "chromium.log"), "wb"))
        os.close(cmd_r)
        os.close(res_w)
        self.next_id = 0
        self.buf = b""
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + 30
        while time.time() < deadline:
            while b"\0" not in self.buf:
                chunk = os.read(self.res_r, 65536)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
        raise RuntimeError(f"{method}: no answer")

    def eval(self, expr):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                            "awaitPromise": True})
        return r.get("result", {}).get("value")

    def wait(self, expr, want, what, seconds=20):
        deadline = time.time() + seconds
        got = None
        while time.time() < deadline:
            got = self.eval(expr)
            if got == want:
                return
            time.sleep(0.1)
        raise AssertionError(f"{what}: {expr} is {got!r}, want {want!r}")

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    b = Chromium()
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"}, session=False)
        b.session = b.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                      "flatten": True}, session=False)["sessionId"]
        b.send("Page.enable")
        b.send("Runtime.enable")
        b.send("Page.navigate", {"url": base + "/ui/"})
        row = f'document.querySelector(\'#jobs tr[data-job="{key}"]\')'
        b.wait("document.body.dataset.loaded", "true", "the page loaded its data")
        b.wait(f"{row} !== null", True, "the job is listed")
        b.wait(f"{row}.querySelector('td.state').textContent", "active", "the job shows active")
        b.wait("document.querySelectorAll('#members tbody tr').length > 0", True,
               "the cluster panel lists the members")
        b.wait("document.querySelector('#cluster-summary').textContent.includes('leader 1')", True,
               "the cluster panel names the leader")
        b.wait("document.querySelector('#live').textContent", "live", "the event stream is live")
        # A click pauses the job in the cluster, and the row says so.
        b.eval(f"{row}.querySelector('button.pause').click()")
        b.wait(f"{row}.querySelector('td.state').textContent", "paused", "the click is shown")
        ns, name = key.split("/")
        status, job = rest("GET", f"/v1/namespaces/{ns}/jobs/{name}")
        assert status == 200 and job["paused"] is True, f"the cluster did not pause it: {job}"
        b.wait(f"{row}.querySelector('button.resume') !== null", True, "Resume is offered")
        # Something done elsewhere reaches the page through the event stream.
        status, run = rest("POST", f"/v1/namespaces/{ns}/jobs/{name}:resume")
        b.wait(f"{row}.querySelector('td.state').textContent", "active",
               "a resume over REST is shown live")
        status, run = rest("POST", f"/v1/namespaces/{ns}/jobs/{name}:run-now", {})
        rid = run["run_id"]
        b.wait(f"[...document.querySelectorAll('#events li')].some(li => "
               f"li.textContent.includes('run.succeeded {key} run {rid}'))", True,
               "the run's events reach the page")
        # The job's detail: runs and decisions.
        b.eval(f"{row}.querySelector('td.name').click()")
        b.wait(f"[...document.querySelectorAll('#runs tbody tr')].some(tr => "
               f"tr.firstChild.textContent === '{rid}')", True, "the detail lists the run")
        shot = b.send("Page.captureScreenshot", {"format": "png"})
        with open(os.path.join(outdir, "dashboard.png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print("dashboard: every check holds")
    finally:
        b.close()


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, RuntimeError) as e:
        print(f"dashboard: FAIL: {e}")
        sys.exit(1)
