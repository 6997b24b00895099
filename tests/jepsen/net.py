"""Network namespaces and nftables partitions for the Jepsen harness.

Layout: one namespace per node (rcjnN, address 10.77.0.N on its eth0) and one bridge namespace
(rcjbr) holding the bridge rcjbr0 at 10.77.0.254, where the harness, the client and the checker
live. Every name starts with "rcj" so that leftovers of a crashed run can be found and removed.
Partitions are drop rules in each node namespace's own nftables table, on input by source and
on output by destination, so the bridge and the client are never cut off.
"""
import ctypes
import fcntl
import os
import subprocess

PREFIX = "rcj"
BRIDGE_NS = "rcjbr"
BRIDGE_DEV = "rcjbr0"
SUBNET = "10.77.0"
HOST_IP = SUBNET + ".254"
CLONE_NEWNET = 0x40000000


def nodeNs(n):
    return "%sn%d" % (PREFIX, n)


def nodeIp(n):
    return "%s.%d" % (SUBNET, n)


def sh(args, check=True, input=None):
    """Runs a command, returns CompletedProcess; raises with its stderr when check fails."""
    p = subprocess.run(args, input=input, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p


def available():
    """None when namespaces can be used, else the reason they cannot."""
    if os.geteuid() != 0:
        return "not root (network namespaces need root)"
    for tool in ("ip", "nft"):
        if sh(["sh", "-c", "command -v " + tool], check=False).returncode != 0:
            return "%s not installed" % tool
    probe = PREFIX + "probe"
    sh(["ip", "netns", "del", probe], check=False)
    p = sh(["ip", "netns", "add", probe], check=False)
    if p.returncode != 0:
        return "ip netns add failed: " + p.stderr.strip()
    p = sh(["ip", "netns", "exec", probe, "nft", "list", "ruleset"], check=False)
    sh(["ip", "netns", "del", probe], check=False)
    if p.returncode != 0:
        return "nft unusable in a namespace: " + p.stderr.strip()
    return None


def lock():
    """Serialises runs on this machine (two ctest build dirs, a soak and a smoke): a second run
    would remove the first one's namespaces. Held until the process exits."""
    f = open("/run/lock/rcj-jepsen.lock", "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def leftovers():
    out = sh(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.split() and line.split()[0].startswith(PREFIX)]


def removeAll():
    """Kills whatever still runs in rcj* namespaces (only this harness puts processes there)
    and deletes the namespaces, with the veths and bridge inside them."""
    for ns in leftovers():
        pids = sh(["ip", "netns", "pids", ns], check=False).stdout.split()
        for pid in pids:
            if pid == str(os.getpid()):
                continue                 # the harness itself lives in the bridge namespace
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        sh(["ip", "netns", "del", ns], check=False)


def create(nodes):
    sh(["ip", "netns", "add", BRIDGE_NS])
    sh(["ip", "-n", BRIDGE_NS, "link", "set", "lo", "up"])
    sh(["ip", "-n", BRIDGE_NS, "link", "add", BRIDGE_DEV, "type", "bridge"])
    sh(["ip", "-n", BRIDGE_NS, "addr", "add", HOST_IP + "/24", "dev", BRIDGE_DEV])
    sh(["ip", "-n", BRIDGE_NS, "link", "set", BRIDGE_DEV, "up"])
    for n in nodes:
        addNode(n)


def addNode(n):
    """Node n's namespace and its veth on the bridge (also during a run: the member nemesis
    adds brand-new nodes). n must be 1..253."""
    if not 1 <= n <= 253:
        raise ValueError("node id %d has no address in %s.0/24" % (n, SUBNET))
    ns = nodeNs(n)
    veth = "%sv%d" % (PREFIX, n)
    sh(["ip", "netns", "add", ns])
    sh(["ip", "-n", ns, "link", "set", "lo", "up"])
    sh(["ip", "-n", BRIDGE_NS, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
        "netns", ns])
    sh(["ip", "-n", BRIDGE_NS, "link", "set", veth, "master", BRIDGE_DEV])
    sh(["ip", "-n", BRIDGE_NS, "link", "set", veth, "up"])
    sh(["ip", "-n", ns, "addr", "add", nodeIp(n) + "/24", "dev", "eth0"])
    sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
    setBlocked(n, [])


def enterBridge():
    """Moves the calling thread (call it before starting others) into the bridge namespace, so
    that every client process the harness spawns reaches the nodes the way an outside client
    would."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + BRIDGE_NS, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + BRIDGE_NS)
    finally:
        os.close(fd)


def setBlocked(n, peers):
    """Replaces node n's rules: it drops all traffic from and to the given peer nodes."""
    ips = ", ".join(nodeIp(p) for p in sorted(peers))
    rules = ["table inet rcj {}", "delete table inet rcj",
             "table inet rcj {",
             " chain in { type filter hook input priority 0; policy accept; }",
             " chain out { type filter hook output priority 0; policy accept; }",
             "}"]
    if peers:
        rules += ["add rule inet rcj in ip saddr { %s } drop" % ips,
                  "add rule inet rcj out ip daddr { %s } drop" % ips]
    sh(["ip", "netns", "exec", nodeNs(n), "nft", "-f", "-"], input="\n".join(rules) + "\n")


def blocked(n):
    """The ruleset of node n's table, as nft prints it (for the test of the partitioning)."""
    return sh(["ip", "netns", "exec", nodeNs(n), "nft", "list", "table", "inet", "rcj"]).stdout


def applyGrudge(nodes, grudge):
    """grudge: {node: set of nodes it must not talk to}; nodes absent from it are healed."""
    for n in nodes:
        setBlocked(n, grudge.get(n, ()))
