"""SIP messages, digest authentication and a small UDP user agent for the end-to-end tests.

Python standard library only. Deliberately simple: it builds exactly the bytes a test asks
for, parses what comes back just enough to assert on it, and computes RFC 7616 / RFC 8760
digests itself (SIPp only speaks MD5).
"""

import hashlib
import os
import re
import socket
import time

CRLF = "\r\n"

# RFC 3261 §7.3.3 compact forms, so a test can ask for "Via" and find "v".
COMPACT_NAMES = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via",
}

METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "MESSAGE", "NOTIFY",
           "PRACK", "PUBLISH", "REFER", "SUBSCRIBE", "UPDATE")


def canonical_name(name):
    lowered = name.strip().lower()
    return COMPACT_NAMES.get(lowered, lowered)


class Message:
    """A parsed SIP message: start line, ordered header list, body bytes."""

    def __init__(self, start_line, headers, body, raw):
        self.start_line = start_line
        self.headers = headers  # list of (name as written, value with folding undone)
        self.body = body
        self.raw = raw

    @property
    def is_response(self):
        return self.start_line.startswith("SIP/")

    @property
    def status(self):
        return int(self.start_line.split(" ", 2)[1]) if self.is_response else None

    @property
    def method(self):
        if self.is_response:
            cseq = self.get("CSeq") or ""
            return cseq.split()[-1] if cseq.split() else ""
        return self.start_line.split(" ", 1)[0]

    def get_all(self, name):
        wanted = canonical_name(name)
        return [value for (header, value) in self.headers if canonical_name(header) == wanted]

    def get(self, name):
        values = self.get_all(name)
        return values[0] if values else None

    def call_id(self):
        return self.get("Call-ID")

    def top_via_branch(self):
        via = self.get("Via") or ""
        match = re.search(r";\s*branch=([^;,\s]+)", via)
        return match.group(1) if match else None

    def __repr__(self):
        return "<%s>" % self.start_line


def parse(data):
    """Parses one datagram. Returns None for bytes that are not a SIP message at all."""
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return None
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation (RFC 3261 §7.3.1)
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
        elif ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip(), value.strip()))
    return Message(lines[0], headers, body, data)


def build(start_line, headers, body=b""):
    """Serialises a message; adds Content-Length unless the caller gave one."""
    if isinstance(body, str):
        body = body.encode()
    lines = [start_line]
    has_length = False
    for name, value in headers:
        lines.append("%s: %s" % (name, value))
        has_length = has_length or canonical_name(name) == "content-length"
    if not has_length:
        lines.append("Content-Length: %d" % len(body))
    return (CRLF.join(lines) + CRLF + CRLF).encode() + body


def new_token(prefix=""):
    return prefix + os.urandom(8).hex()


# --- digest (RFC 7616, RFC 8760) -------------------------------------------------------------

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256, "SHA-512-256": None}

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)')


def parse_challenge(value):
    """'Digest realm="r", nonce="n", algorithm=SHA-256' -> {'scheme': 'Digest', 'realm': ...}."""
    scheme, _, rest = value.strip().partition(" ")
    params = {"scheme": scheme}
    for key, raw in _PARAM.findall(rest):
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[key.lower()] = raw
    return params


def hash_hex(algorithm, text):
    if algorithm == "SHA-512-256":
        return hashlib.new("sha512_256", text.encode()).hexdigest()
    return HASHES[algorithm](text.encode()).hexdigest()


def digest_response(algorithm, username, realm, password, method, uri, nonce, nc=None,
                    cnonce=None, qop=None):
    """RFC 7616 §3.4.1 (algorithm without -sess)."""
    ha1 = hash_hex(algorithm, "%s:%s:%s" % (username, realm, password))
    ha2 = hash_hex(algorithm, "%s:%s" % (method, uri))
    if qop:
        return hash_hex(algorithm, "%s:%s:%s:%s:%s:%s" % (ha1, nonce, nc, cnonce, qop, ha2))
    return hash_hex(algorithm, "%s:%s:%s" % (ha1, nonce, ha2))


def authorization_value(challenge, username, password, method, uri, nc=1, cnonce=None):
    algorithm = challenge.get("algorithm", "MD5")
    qop = "auth" if "auth" in [q.strip() for q in challenge.get("qop", "").split(",")] else None
    cnonce = cnonce or new_token()
    nc_text = "%08x" % nc
    response = digest_response(algorithm, username, challenge["realm"], password, method, uri,
                               challenge["nonce"], nc_text, cnonce, qop)
    parts = ['Digest username="%s"' % username, 'realm="%s"' % challenge["realm"],
             'nonce="%s"' % challenge["nonce"], 'uri="%s"' % uri, 'response="%s"' % response,
             "algorithm=%s" % algorithm]
    if qop:
        parts += ['cnonce="%s"' % cnonce, "qop=%s" % qop, "nc=%s" % nc_text]
    if "opaque" in challenge:
        parts.append('opaque="%s"' % challenge["opaque"])
    return ", ".join(parts)


def self_test_digest():
    """RFC 7616 §3.9.1's worked example: proves digest_response before it judges a server."""
    args = dict(username="Mufasa", realm="http-auth@example.org", password="Circle of Life",
                method="GET", uri="/dir/index.html",
                nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc="00000001",
                cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop="auth")
    assert digest_response("MD5", **args) == "8ca523f5e9506fed4657c9700eebdbec"
    assert digest_response("SHA-256", **args) == (
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")


# --- a UDP user agent -------------------------------------------------------------------------

# Where agents bind and where the proxy is: both loopback in socket mode; in DPDK mode the
# agents sit in the peer network namespace and the proxy owns the dataplane address
# (harness.configure_network sets them).
LOCAL_HOST = "127.0.0.1"
PROXY_HOST = "127.0.0.1"


class Agent:
    """One UDP socket on LOCAL_HOST that sends requests to the proxy and collects answers."""

    def __init__(self, proxy_port, port=0, user="1001", host=None):
        self.proxy = (PROXY_HOST, proxy_port)
        self.host = host or LOCAL_HOST  # another of the test's own addresses, when given
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.host, port))
        self.port = self.sock.getsockname()[1]
        self.user = user
        self.cseq = 0
        self.call_id = new_token("e2e-") + "@" + self.host
        self.from_tag = new_token()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def via(self, branch=None):
        return "SIP/2.0/UDP %s:%d;rport;branch=%s" % (self.host, self.port,
                                                       branch or new_token("z9hG4bK"))

    def send_raw(self, data, destination=None):
        self.sock.sendto(data, destination or self.proxy)

    def receive(self, timeout):
        """Next datagram within timeout seconds, parsed, or None."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, _ = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        return parse(data)

    def wait_final(self, call_id, cseq_number, timeout=3.0):
        """Skips provisional responses and strays; returns the final response or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            message = self.receive(left)
            if message is None or not message.is_response:
                continue
            cseq = (message.get("CSeq") or "").split()
            if message.call_id() != call_id or not cseq or cseq[0] != str(cseq_number):
                continue
            if message.status >= 200:
                return message

    def request(self, method, uri, headers=(), body=b"", to=None, call_id=None, cseq=None,
                branch=None, max_forwards=70, version="SIP/2.0", wait=True, timeout=3.0):
        """Sends one request; returns the final response (or None when wait is False)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        call_id = call_id or self.call_id
        header_list = [("Via", self.via(branch))]
        if max_forwards is not None:
            header_list.append(("Max-Forwards", str(max_forwards)))
        header_list += [
            ("From", "<sip:%s@%s>;tag=%s" % (self.user, PROXY_HOST, self.from_tag)),
            ("To", to or "<%s>" % uri),
            ("Call-ID", call_id),
            ("CSeq", "%d %s" % (cseq, method)),
        ]
        header_list += list(headers)
        self.send_raw(build("%s %s %s" % (method, uri, version), header_list, body))
        if not wait:
            return None
        return self.wait_final(call_id, cseq, timeout)

    def register(self, password, contact=None, expires=None, uri=None, aor_user=None,
                 prefer="SHA-256", extra_headers=(), username=None, auth_header="Authorization"):
        """REGISTER with digest: returns (first answer, answer to the credentials).

        The second is None when the first is not a 401 (or missing). The credentials answer
        the challenge whose algorithm is `prefer` (else the first one offered)."""
        aor_user = aor_user or self.user
        uri = uri or "sip:%s:%d" % self.proxy
        to = "<sip:%s@%s>" % (aor_user, PROXY_HOST)
        headers = list(extra_headers)
        if contact is not None:
            headers.append(("Contact", contact))
        if expires is not None:
            headers.append(("Expires", str(expires)))
        first = self.request("REGISTER", uri, headers, to=to)
        if first is None or first.status != 401:
            return first, None
        credentials = self.answer_challenge(first, "WWW-Authenticate", username or aor_user,
                                            password, "REGISTER", uri, prefer)
        final = self.request("REGISTER", uri, headers + [(auth_header, credentials)], to=to)
        return first, final

    def answer_challenge(self, response, header, username, password, method, uri, prefer):
        challenges = [parse_challenge(v) for v in response.get_all(header)]
        chosen = next((c for c in challenges if c.get("algorithm", "MD5") == prefer),
                      challenges[0])
        return authorization_value(chosen, username, password, method, uri, nc=1)


class EchoUas:
    """A UAS that records every datagram and answers each request but ACK with 200 OK.

    Runs in the caller's thread via poll(); answers go back to the datagram's source (the
    proxy), with the Via list copied as RFC 3261 §8.2.6.2 requires."""

    def __init__(self, port=0, lose_invites=0, ring=False, ring_after=0.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCAL_HOST, port))
        self.port = self.sock.getsockname()[1]
        self.received = []  # parsed messages (None for unparsable bytes)
        self.sources = []   # (host, port) each came from, in the same order
        self.raw = []
        # A lossy link: the first `lose_invites` copies of each INVITE (by Call-ID) are
        # recorded but not answered, as if they had been lost on the way.
        self.lose_invites = lose_invites
        self.invite_copies = {}
        # A callee that rings and never answers: INVITE gets 180 Ringing only; a CANCEL gets
        # 200, and its INVITE 487 Request Terminated (RFC 3261 §9.2), with the 180's To tag.
        self.ring = ring
        self.ringing = {}  # Call-ID -> (INVITE, To tag)
        # ... whose 180 comes `ring_after` seconds after the INVITE (a slow callee), when
        # received_at and rang_at (monotonic times) say what came before what.
        self.ring_after = ring_after
        self.due = []  # (when, INVITE, source, tag): 180s not sent yet
        self.received_at = []
        self.rang_at = {}  # Call-ID -> when its 180 was sent

    def close(self):
        self.sock.close()

    def poll(self, duration, answer=True):
        deadline = time.monotonic() + duration
        while True:
            self.send_due_ringing()
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                return
            if self.due:
                left = min(left, max(0.001, self.due[0][0] - now))
            self.sock.settimeout(left)
            try:
                data, source = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            message = parse(data)
            self.raw.append(data)
            self.received.append(message)
            self.sources.append(source)
            self.received_at.append(time.monotonic())
            if answer and message is not None and not message.is_response and \
                    message.method != "ACK" and not self.lost(message):
                if self.ring and message.method in ("INVITE", "CANCEL"):
                    self.ring_or_terminate(message, source)
                else:
                    self.sock.sendto(self.answer(message, 200, "OK"), source)

    def send_due_ringing(self):
        while self.due and self.due[0][0] <= time.monotonic():
            _, invite, source, tag = self.due.pop(0)
            self.sock.sendto(self.answer(invite, 180, "Ringing", tag), source)
            self.rang_at[invite.get("Call-ID")] = time.monotonic()

    def ring_or_terminate(self, message, source):
        call_id = message.get("Call-ID")
        if message.method == "INVITE":
            first = call_id not in self.ringing
            invite, tag = self.ringing.setdefault(call_id, (message, new_token()))
            if self.ring_after <= 0:
                self.sock.sendto(self.answer(invite, 180, "Ringing", tag), source)
                self.rang_at[call_id] = time.monotonic()
            elif first:
                self.due.append((time.monotonic() + self.ring_after, invite, source, tag))
            return
        self.sock.sendto(self.answer(message, 200, "OK"), source)
        if call_id in self.ringing:
            invite, tag = self.ringing.pop(call_id)
            self.sock.sendto(self.answer(invite, 487, "Request Terminated", tag), source)

    def lost(self, message):
        if message.method != "INVITE":
            return False
        call_id = message.get("Call-ID")
        self.invite_copies[call_id] = self.invite_copies.get(call_id, 0) + 1
        return self.invite_copies[call_id] <= self.lose_invites

    @staticmethod
    def answer(request, code, reason, tag=None):
        headers = [("Via", via) for via in request.get_all("Via")]
        to = request.get("To") or ""
        if ";tag=" not in to:
            to += ";tag=" + (tag or new_token())
        headers += [("From", request.get("From") or ""), ("To", to),
                    ("Call-ID", request.get("Call-ID") or ""), ("CSeq", request.get("CSeq") or "")]
        return build("SIP/2.0 %d %s" % (code, reason), headers)
