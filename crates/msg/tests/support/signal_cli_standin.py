#!/usr/bin/env python3
# -----------------------------------------------------------------------------
# signal-cli STAND-IN — for tests only.  This is NOT signal-cli.
#
# The Signal network is unreachable in the test environment, so the messaging
# daemon's tests talk to this script instead of `signal-cli -a ACCOUNT daemon
# --tcp HOST:PORT`.  It speaks the same newline-delimited JSON-RPC 2.0 as
# signal-cli's daemon/jsonRpc mode, with the same method names, parameter
# names, result shapes, notification shapes and error codes, as found in
# AsamK/signal-cli at release 0.14.6 (snapshot "Prepare next release",
# commit c26e0632, version 0.14.7-SNAPSHOT), specifically:
#   man/signal-cli-jsonrpc.5.adoc, man/signal-cli.1.adoc
#   src/main/java/org/asamk/signal/jsonrpc/{JsonRpcReader,JsonRpcResponse,
#       SignalJsonRpcDispatcherHandler,SignalJsonRpcCommandHandler,SocketHandler}.java
#   src/main/java/org/asamk/signal/json/{JsonMessageEnvelope,JsonDataMessage,
#       JsonGroupInfo,JsonSyncMessage,JsonSyncDataMessage,JsonAttachment,
#       JsonReceiveMessageHandler,JsonSendMessageResult,JsonRecipientAddress,
#       JsonContact}.java
#   src/main/java/org/asamk/signal/commands/{DaemonCommand,SendCommand,
#       ReceiveCommand,ListGroupsCommand,ListContactsCommand,GetUserStatusCommand,
#       StartLinkCommand,FinishLinkCommand,AddDeviceCommand,LinkCommand,
#       VersionCommand,ListAccountsCommand,JsonRpcNamespace}.java
#   src/main/java/org/asamk/signal/util/{CommandUtil,SendMessageResultUtils}.java
#   lib/.../manager/internal/ManagerImpl.java, lib/.../helper/ReceiveHelper.java
#
# Python 3 standard library only.
#
# USAGE (direct style)
#   python3 signal_cli_standin.py --account +15550000001 --tcp 127.0.0.1:PORT \
#       --control 127.0.0.1:PORT2 --sent-log FILE \
#       [--receive-mode on-start|on-connection|manual]   (default on-start, like signal-cli)
#       [--multi-account [--account +1555... ...]]   (daemon started without -a)
#       [--self-name NAME] [--contact NUMBER=NAME ...] [--group ID=NAME ...]
#       [--unregistered NUMBER ...] [--attachments-dir DIR]
#       [--link-number +1555...] [--link-delay SECONDS] [--link-timeout SECONDS]
#       [--version-string 0.14.6]
#   Port 0 is allowed for both ports; the ready line shows the real ports:
#     signal-cli stand-in: listening on 127.0.0.1:PORT (control 127.0.0.1:PORT2)
#
# USAGE (signal-cli style argv, so it can replace the signal-cli binary)
#   signal_cli_standin.py [-a ACCOUNT] [--config DIR|-c DIR|--data-dir DIR|-d DIR]
#       [-o json] [-v] daemon --tcp [HOST:PORT] [--receive-mode MODE] [--no-receive-stdout] ...
#   signal_cli_standin.py [-a ACCOUNT] jsonRpc [--receive-mode on-start|manual]   (stdin/stdout)
#   signal_cli_standin.py [--config DIR] link [-n NAME]
#   signal_cli_standin.py --version | version
#   Extra stand-in settings come from environment variables:
#     SIGNAL_CLI_STANDIN_CONTROL=HOST:PORT  SIGNAL_CLI_STANDIN_SENT_LOG=FILE
#     SIGNAL_CLI_STANDIN_LINK_NUMBER=+1555...  SIGNAL_CLI_STANDIN_LINK_DELAY=0.2
#     SIGNAL_CLI_STANDIN_LINK_RESULT=ok|timeout|io
#
# RECEIVE-MODE SEMANTICS IMPLEMENTED (same as signal-cli's DaemonCommand/ManagerImpl)
#   Injected envelopes go into a per-account "server queue" (standing in for the
#   Signal server).  They leave the queue only while the account is "receiving":
#   on-start      always receiving (a non-weak default handler exists from start).
#                 Every connected client gets an automatic subscription and
#                 receives plain notifications.  If NO client is connected the
#                 envelope is consumed anyway and DROPPED (signal-cli only prints
#                 it on its own stdout) -> the control reply says "dropped":true.
#   on-connection receiving while >= 1 client is connected; every connection gets an
#                 automatic subscription (plain notifications).  With no client
#                 connected, envelopes stay queued, then go to the next client.
#   manual        receiving only while >= 1 subscribeReceive subscription exists;
#                 notifications wrapped as {"subscription":N,"result":{...}}.
#                 Otherwise envelopes stay queued; the `receive` method can poll.
#   Envelopes are broadcast to every subscription existing at delivery time.
#   Like signal-cli there is no client acknowledgement: once written to a socket
#   (or if the write fails because the client vanished) the envelope is gone.
#
# NOT IMPLEMENTED: the Signal protocol itself, encryption, real attachment
#   upload/download (attachments are checked for existence and recorded only),
#   register/verify/unregister, group management (updateGroup, joinGroup,
#   quitGroup...), profiles, stickers, polls, stories, calls, identities/trust,
#   sync requests, --socket/--http/--dbus transports, HTTP/SSE, exact Jackson
#   exception texts (codes are faithful, parse/mapping messages are close
#   approximations), libphonenumber normalisation (national numbers without "+"
#   are REJECTED here, signal-cli would try to normalise them), rate limits,
#   and the ordering randomness of Java HashMaps/Sets.  Real signal-cli methods
#   that are not implemented answer error -32603 "... not implemented by the
#   signal-cli stand-in (UnsupportedOperationException)"; names signal-cli does
#   not know answer -32601 "Method not implemented" exactly like signal-cli.
#
# CONTROL PORT (one JSON object per line -> one JSON reply line; {"ok":false,"error":..} on failure)
#   {"op":"inject","envelope":{...},"account":"+..."?,"exception":{...}?}
#   {"op":"inject_text","from":"+1555..","name":"Bob","text":"hi","group_id":null,
#        "group_name":?, "to":? (sync destination, default = account = note to self),
#        "device":?, "timestamp":?, "attachments":[{"contentType","filename","data"(b64)|"path"|"size"}]?,
#        "expires_in_seconds":0?, "view_once":false?, "account":?}
#       -> {"ok":true,"timestamp":T,"envelope":{...},"delivered":N,"queued":bool,"dropped":bool}
#   {"op":"sent"[,"method":"send"]}          -> {"ok":true,"sent":[log entries]}
#   {"op":"fail_next_send","error":{"code":-3,"message":"..","data":null}[,"count":N]}
#   {"op":"fail_next_send","type":"UNREGISTERED_FAILURE|NETWORK_FAILURE|IDENTITY_FAILURE|
#        RATE_LIMIT_FAILURE|INVALID_PRE_KEY_FAILURE"[,"only":["+1555.."]][,"count":N]}
#   {"op":"set_send_delay","ms":N}    {"op":"status"}    {"op":"queue"[,"account"]}
#   {"op":"wait_receiving","timeout":5[,"account"]}  (waits until someone would get envelopes)
#   {"op":"wait_connections","count":1,"timeout":5}
#   {"op":"add_group","group_id"?,"name","members":[..]}  {"op":"add_contact","number","name","uuid"?}
#   {"op":"set_unregistered","numbers":[..]}
#   {"op":"complete_link","number":"+1555..","uri"?}  {"op":"fail_link","error":"timeout|io"}
#   {"op":"drop_connections"}  (close every JSON-RPC client socket)   {"op":"shutdown"}
#
# SENT LOG: one JSON object per line, appended + flushed + fsynced BEFORE the
#   JSON-RPC reply is written, for every send/sendReaction/sendTyping/
#   sendReceipt call that got past parameter validation:
#   {"seq":1,"method":"send","account":"+1555..","params":{...verbatim...},
#    "recipients":["+1555.."],"group_ids":[],"usernames":[],"note_to_self":false,
#    "message":"hi","attachments":[...],"timestamp":T,"ok":true,"result":{...}}
#   Failed attempts (fail_next_send) are logged with "ok":false and "error".
#   Count successful sends with: ok == true and method == "send".
# -----------------------------------------------------------------------------

import argparse
import base64
import binascii
import json
import mimetypes
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid as uuidlib

EMULATED_VERSION = "0.14.6"

# org.asamk.signal.jsonrpc.JsonRpcResponse.Error
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# org.asamk.signal.jsonrpc.SignalJsonRpcCommandHandler
USER_ERROR = -1
IO_ERROR = -3
UNTRUSTED_KEY_ERROR = -4
RATELIMIT_ERROR = -5
CAPTCHA_REJECTED_ERROR = -6

SEND_RESULT_TYPES = ("SUCCESS", "NETWORK_FAILURE", "UNREGISTERED_FAILURE", "IDENTITY_FAILURE",
                     "RATE_LIMIT_FAILURE", "INVALID_PRE_KEY_FAILURE")

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")

# Real signal-cli JSON-RPC methods (Commands.java + dispatcher extras) that this
# stand-in does not implement: they answer -32603 instead of -32601.
UNIMPLEMENTED_REAL_METHODS = {
    "acceptCall", "addStickerPack", "block", "deleteLocalAccountData", "finishChangeNumber", "getAvatar",
    "getSticker", "hangupCall", "joinGroup", "listCalls", "listIdentities", "listStickerPacks", "quitGroup",
    "register", "rejectCall", "removeContact", "removeDevice", "removePin", "remoteDelete", "sendAdminDelete",
    "sendContacts", "sendMessageRequestResponse", "sendPaymentNotification", "sendPinMessage",
    "sendPollCreate", "sendPollTerminate", "sendPollVote", "sendStory", "sendUnpinMessage", "setPin",
    "startCall", "startChangeNumber", "submitRateLimitChallenge", "trust", "unblock", "unregister",
    "updateAccount", "updateConfiguration", "updateContact", "updateDevice", "updateGroup", "updateProfile",
    "uploadStickerPack", "verify", "subscribeCallEvents", "unsubscribeCallEvents",
}

STOP = threading.Event()
VERBOSE = False


def log(msg):
    try:
        sys.stderr.write("[signal-cli stand-in] %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


def dumps(obj):
    # Jackson output: compact, UTF-8, no ASCII escaping of non-ASCII characters.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def now_ms():
    return int(time.time() * 1000)


class RpcError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def obj(self):
        # JsonRpcResponse.Error has no @JsonInclude -> "data":null is always present.
        return {"code": self.code, "message": self.message, "data": self.data}


def user_error(msg, data=None):
    return RpcError(USER_ERROR, msg, data)


def java_type(v):
    if isinstance(v, bool):
        return "java.lang.Boolean"
    if isinstance(v, int):
        return "java.lang.Integer" if -2**31 <= v < 2**31 else "java.lang.Long"
    if isinstance(v, float):
        return "java.lang.Double"
    if isinstance(v, str):
        return "java.lang.String"
    if isinstance(v, list):
        return "java.util.ArrayList"
    if isinstance(v, dict):
        return "java.util.LinkedHashMap"
    return "java.lang.Object"


def class_cast(v, target):
    src = java_type(v)
    return RpcError(INTERNAL_ERROR,
                    "class %s cannot be cast to class %s (%s and %s are in module java.base of loader "
                    "'bootstrap') (ClassCastException)" % (src, target, src, target))


def camel(dest):
    # Util.dashSeparatedToCamelCaseString
    parts = dest.split("-")
    return parts[0] + "".join(p[0].upper() + p[1:].lower() for p in parts[1:] if p)


class Namespace:
    """Mimics JsonRpcNamespace: dashed names fall back to camelCase, lists accept a
    single value, and `x` falls back to the plural `xs`."""

    def __init__(self, params):
        self.p = params if isinstance(params, dict) else {}

    def get(self, dest):
        v = self.p.get(dest)
        if v is None:
            v = self.p.get(camel(dest))
        return v

    def get_list(self, dest, elem=str):
        v = self.get(dest)
        if v is not None:
            lst = v if isinstance(v, list) else [v]
        else:
            v = self.get(dest + "s")
            if v is None:
                return None
            if not isinstance(v, list):
                raise class_cast(v, "java.util.List")
            lst = v
        for e in lst:
            if elem is str and not isinstance(e, str):
                raise class_cast(e, "java.lang.String")
            if elem is int and (isinstance(e, bool) or not isinstance(e, int)):
                raise class_cast(e, "java.lang.Long")
        return lst

    def get_string(self, dest):
        v = self.get(dest)
        if v is None:
            return None
        if not isinstance(v, str):
            raise class_cast(v, "java.lang.String")
        return v

    def get_bool(self, dest):
        v = self.get(dest)
        if v is None:
            return None
        if not isinstance(v, bool):
            raise class_cast(v, "java.lang.Boolean")
        return v

    def get_long(self, dest):
        v = self.get(dest)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise class_cast(v, "java.lang.Long")
        return v


def derive_uuid(key):
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "signal-cli-standin:" + key))


def parse_recipient(s):
    """RecipientIdentifier.Single.fromString, but stricter for phone numbers: after
    stripping formatting characters (like signal-cli) the number must be E.164.
    Returns (kind, value) with kind in number|uuid|pni|username."""
    if UUID_RE.match(s):
        return ("uuid", s.lower())
    if s.startswith("PNI:"):
        if not UUID_RE.match(s[4:]):
            raise user_error("Invalid phone number '%s': Invalid PNI" % s)
        return ("pni", s[4:].lower())
    if s.startswith("u:"):
        return ("username", s[2:])
    if "@" in s:
        raise user_error("Invalid phone number '%s': Possible attempt to use email address." % s)
    stripped = re.sub(r"[^0-9+]", "", s)
    if not stripped:
        raise user_error("Invalid phone number '%s': No valid characters found." % s)
    if not E164_RE.match(stripped):
        raise user_error("Invalid phone number '%s': Not a valid E.164 phone number "
                         "(the signal-cli stand-in only accepts +<country code><number> or a UUID)." % s)
    return ("number", stripped)


def parse_group_id(gid):
    # CommandUtil.getGroupId -> GroupId.fromBase64 (16 bytes = v1, 32 bytes = v2)
    try:
        raw = base64.b64decode(gid, validate=True)
    except (binascii.Error, ValueError) as e:
        raise user_error('Invalid group id: Failed to decode groupId (must be base64) "%s": %s' % (gid, e))
    if len(raw) not in (16, 32):
        raise user_error('Invalid group id: Failed to decode groupId (must be base64) "%s": '
                         'Invalid group id of size %d' % (gid, len(raw)))
    return base64.b64encode(raw).decode()


# ----------------------------------------------------------------------------- state

class Account:
    def __init__(self, number, name=None, device_id=1):
        self.number = number
        self.uuid = derive_uuid(number)
        self.name = name
        self.device_id = device_id
        self.queue = []          # server-side queue of {"seq":k,"params":{...}}
        self.sync_receivers = 0  # active `receive` method calls
        self.contacts = {}       # key -> {"number","uuid","name","profileName","username"}
        self.groups = {}         # id -> group dict
        self.attachments = {}    # id -> bytes
        self.devices = [{"id": device_id, "name": "cli", "createdTimestamp": now_ms(),
                         "lastSeenTimestamp": now_ms()}]

    def addr(self):
        return {"uuid": self.uuid, "number": self.number, "username": None}


class Subscription:
    def __init__(self, sid, conn, accounts, internal):
        self.id = sid
        self.conn = conn
        self.accounts = set(accounts)
        self.internal = internal


class Conn:
    """One JSON-RPC client (socket) or the stdio pair of `jsonRpc` mode."""
    counter = 0

    def __init__(self, rfile, write_bytes, close_fn, name):
        Conn.counter += 1
        self.id = Conn.counter
        self.rfile = rfile
        self._write = write_bytes
        self._close = close_fn
        self.name = name
        self.wlock = threading.Lock()
        self.closed = False

    def send(self, obj):
        data = (dumps(obj) + "\n").encode("utf-8")
        with self.wlock:
            if self.closed:
                return False
            try:
                self._write(data)
                return True
            except Exception as e:  # ClosedChannelException in signal-cli
                log("write to client %s failed: %s" % (self.name, e))
                self.closed = True
                return False

    def close(self):
        self.closed = True
        try:
            self._close()
        except Exception:
            pass


class Standin:
    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.multi = cfg.multi
        self.mode = cfg.receive_mode
        self.version = cfg.version_string
        self.accounts = {}
        for n in cfg.accounts:
            self.accounts[n] = Account(n, cfg.self_name)
        self.connections = set()
        self.subs = {}
        self.next_sub_id = 0     # static AtomicInteger in SignalJsonRpcDispatcherHandler
        self.item_seq = 0
        self.delivery = {}       # item seq -> number of handlers that got it (-1 dropped)
        self.unregistered = set(cfg.unregistered)
        self.fail_queue = []
        self.send_delay_ms = 0
        self.sent = []
        self.sent_seq = 0
        self.sent_log_path = cfg.sent_log
        self.sent_log_lock = threading.Lock()
        self.last_ts = 0
        self.links = {}          # uri -> {"state":"pending|done|failed","number","error","name"}
        self.link_order = []
        self.attachments_dir = cfg.attachments_dir
        for spec in cfg.contacts:
            num, _, name = spec.partition("=")
            for a in self.accounts.values():
                self._contact(a, num, name=name or None, is_contact=True)
        for spec in cfg.groups:
            gid, _, name = spec.partition("=")
            gid = parse_group_id(gid) if gid else base64.b64encode(secrets.token_bytes(32)).decode()
            for a in self.accounts.values():
                self._group(a, gid, name or "Group", [])
        if self.sent_log_path:
            d = os.path.dirname(os.path.abspath(self.sent_log_path))
            os.makedirs(d, exist_ok=True)
            open(self.sent_log_path, "a").close()

    # ---------------------------------------------------------------- helpers
    def next_ts(self):
        with self.lock:
            t = max(now_ms(), self.last_ts + 1)
            self.last_ts = t
            return t

    def find_account(self, key):
        if key is None:
            return None
        key = str(key)
        with self.lock:
            if key in self.accounts:
                return self.accounts[key]
            for a in self.accounts.values():
                if a.uuid == key.lower():
                    return a
        return None

    def default_account(self, name=None):
        if name:
            a = self.find_account(name)
            if a is None:
                raise ValueError("unknown account %s" % name)
            return a
        with self.lock:
            return next(iter(self.accounts.values()))

    def _contact(self, acct, key, name=None, uuid=None, is_contact=False, profile_name=None):
        if UUID_RE.match(key):
            number, u = None, key.lower()
        else:
            number, u = key, (uuid or derive_uuid(key))
        c = acct.contacts.get(u)
        if c is None:
            c = {"number": number, "uuid": u, "name": None, "profileName": None, "username": None,
                 "isContact": False}
            acct.contacts[u] = c
        if number and not c["number"]:
            c["number"] = number
        if name is not None and is_contact:
            c["name"] = name
        if profile_name is not None:
            c["profileName"] = profile_name
        if is_contact:
            c["isContact"] = True
        return c

    def lookup_number_addr(self, acct, kind, value):
        """Returns a JsonRecipientAddress-like dict for a parsed recipient."""
        if kind == "number":
            if value == acct.number:
                return acct.addr()
            c = acct.contacts.get(derive_uuid(value))
            return {"uuid": c["uuid"] if c else derive_uuid(value), "number": value, "username": None}
        if kind == "uuid":
            if value == acct.uuid:
                return acct.addr()
            c = acct.contacts.get(value)
            return {"uuid": value, "number": c["number"] if c else None, "username": None}
        if kind == "pni":
            return {"uuid": "PNI:" + value, "number": None, "username": None}
        return {"uuid": derive_uuid("u:" + value), "number": None, "username": value}

    def _group(self, acct, gid, name, members):
        g = acct.groups.get(gid)
        if g is None:
            g = {"id": gid, "name": name, "description": "", "isMember": True, "isBlocked": False,
                 "messageExpirationTime": 0, "members": [], "admins": set(), "revision": 0}
            acct.groups[gid] = g
            g["members"].append(acct.number)
        elif name and g["name"] in (None, "", "Group"):
            g["name"] = name
        for m in members:
            if m and m not in g["members"]:
                g["members"].append(m)
        return g

    # ---------------------------------------------------------------- receiving
    def is_receiving(self, acct):
        """ManagerImpl.isReceiving(): a non-weak handler exists."""
        if self.mode == "on-start":
            return True
        return any(acct.number in s.accounts for s in self.subs.values())

    def new_sub(self, conn, accounts, internal):
        with self.lock:
            sid = self.next_sub_id
            self.next_sub_id += 1
            self.subs[sid] = Subscription(sid, conn, [a.number for a in accounts], internal)
            return sid

    def remove_conn(self, conn):
        with self.lock:
            self.connections.discard(conn)
            for sid in [k for k, s in self.subs.items() if s.conn is conn]:
                del self.subs[sid]
            self.cond.notify_all()

    def _notify(self, sub, params):
        if sub.internal:
            p = params
        else:
            p = {"subscription": sub.id, "result": params}
        return sub.conn.send({"jsonrpc": "2.0", "method": "receive", "params": p})

    def _deliver(self, acct, item):
        n = 0
        for sub in sorted(self.subs.values(), key=lambda s: s.id):
            if acct.number not in sub.accounts:
                continue
            if self._notify(sub, item["params"]):
                n += 1
            else:
                # like signal-cli: write failed -> unsubscribe; the envelope is NOT re-queued
                self.subs.pop(sub.id, None)
        return n

    def pump(self, acct=None):
        with self.lock:
            accts = [acct] if acct else list(self.accounts.values())
            for a in accts:
                if a.sync_receivers > 0:
                    continue  # a `receive` call is pulling messages itself
                while a.queue and self.is_receiving(a):
                    item = a.queue.pop(0)
                    n = self._deliver(a, item)
                    if n == 0:
                        self.delivery[item["seq"]] = -1
                        log("envelope %d for %s consumed with no client attached -> dropped "
                            "(signal-cli would only print it to its stdout)" % (item["seq"], a.number))
                    else:
                        self.delivery[item["seq"]] = n
            self.cond.notify_all()

    def inject(self, acct, envelope, exception=None):
        params = {}
        if exception is not None:
            params["exception"] = exception
        params["envelope"] = envelope
        params["account"] = acct.number
        with self.lock:
            self.item_seq += 1
            item = {"seq": self.item_seq, "params": params}
            acct.queue.append(item)
            self.cond.notify_all()
            self.pump(acct)
            st = self.delivery.get(item["seq"])
            queued = item in acct.queue
            return {"delivered": max(st or 0, 0), "queued": queued, "dropped": st == -1}

    # ---------------------------------------------------------------- envelopes
    def build_text_envelope(self, acct, op):
        sender = op.get("from") or acct.number
        text = op.get("text")
        ts = int(op.get("timestamp") or self.next_ts())
        device = op.get("device")
        gid = op.get("group_id")
        if gid:
            gid = parse_group_id(gid)
        if UUID_RE.match(sender):
            s_number, s_uuid = None, sender.lower()
        else:
            if not E164_RE.match(sender):
                raise ValueError("'from' must be E.164 or a UUID")
            s_number, s_uuid = sender, (acct.uuid if sender == acct.number else derive_uuid(sender))
        is_self = sender == acct.number or s_uuid == acct.uuid
        name = op.get("name")
        if is_self:
            name = name if name is not None else acct.name
        else:
            c = self._contact(acct, sender, profile_name=name)
            if name is None:
                name = c["name"] or c["profileName"]
        data = {
            "timestamp": ts,
            "message": text,
            "expiresInSeconds": int(op.get("expires_in_seconds") or 0),
            "isExpirationUpdate": False,
            "viewOnce": bool(op.get("view_once", False)),
        }
        atts = [self.make_attachment(acct, a) for a in (op.get("attachments") or [])]
        if atts:
            data["attachments"] = atts
        if gid:
            g = self._group(acct, gid, op.get("group_name") or "Group", [s_number or s_uuid])
            data["groupInfo"] = {"groupId": gid, "groupName": g["name"], "revision": g["revision"],
                                 "type": "DELIVER"}
        env = {
            "source": s_number or s_uuid,
            "sourceNumber": s_number,
            "sourceUuid": s_uuid,
            "sourceName": name,
            "sourceDevice": int(device if device is not None else 1),
            "timestamp": ts,
            "serverReceivedTimestamp": ts + 7,
            "serverDeliveredTimestamp": max(now_ms(), ts + 8),
        }
        if is_self:
            # Sent from the account's own (other) device -> sync transcript.
            if gid:
                dest_num = dest_uuid = dest = None
            else:
                to = op.get("to") or acct.number
                kind, val = parse_recipient(to)
                addr = self.lookup_number_addr(acct, kind, val)
                dest_num, dest_uuid = addr["number"], addr["uuid"]
                dest = dest_num or dest_uuid
            sent = {"destination": dest, "destinationNumber": dest_num, "destinationUuid": dest_uuid}
            sent.update(data)  # @JsonUnwrapped JsonDataMessage
            env["syncMessage"] = {"sentMessage": sent}
        else:
            env["dataMessage"] = data
        return env, ts

    def make_attachment(self, acct, a):
        content_type = a.get("contentType") or "application/octet-stream"
        filename = a.get("filename")
        raw = None
        if a.get("data") is not None:
            raw = base64.b64decode(a["data"])
        elif a.get("path"):
            with open(a["path"], "rb") as f:
                raw = f.read()
            filename = filename or os.path.basename(a["path"])
        size = len(raw) if raw is not None else a.get("size")
        ext = ""
        if filename and "." in filename:
            ext = "." + filename.rsplit(".", 1)[1]
        else:
            guess = mimetypes.guess_extension(content_type) if content_type else None
            ext = guess or ""
        att_id = a.get("id") or (re.sub(r"[^A-Za-z0-9_.-]", "_", secrets.token_urlsafe(15)) + ext)
        if raw is not None:
            acct.attachments[att_id] = raw
            if self.attachments_dir:
                os.makedirs(self.attachments_dir, exist_ok=True)
                with open(os.path.join(self.attachments_dir, att_id), "wb") as f:
                    f.write(raw)
        return {"contentType": content_type, "filename": filename, "id": att_id, "size": size,
                "width": a.get("width"), "height": a.get("height"), "caption": a.get("caption"),
                "uploadTimestamp": a.get("uploadTimestamp", now_ms())}

    # ---------------------------------------------------------------- sent log
    def record_send(self, entry):
        with self.sent_log_lock:
            with self.lock:
                self.sent_seq += 1
                entry = dict(entry, seq=self.sent_seq, logged_at_ms=now_ms())
                self.sent.append(entry)
            if self.sent_log_path:
                with open(self.sent_log_path, "a", encoding="utf-8") as f:
                    f.write(dumps(entry) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
        return entry


# ----------------------------------------------------------------------------- JSON-RPC

REQUEST_FIELDS = ("jsonrpc", "method", "params", "id")


class RpcServer:
    """JsonRpcReader + SignalJsonRpcCommandHandler + SignalJsonRpcDispatcherHandler."""

    def __init__(self, st):
        self.st = st

    # ------------------------------------------------------------ connection
    def handle_connection(self, conn):
        st = self.st
        with st.lock:
            st.connections.add(conn)
            if st.mode != "manual":
                st.new_sub(conn, list(st.accounts.values()), internal=True)
            st.cond.notify_all()
        log("client %s connected" % conn.name)
        st.pump()
        try:
            while not STOP.is_set() and not conn.closed:
                try:
                    raw = conn.rfile.readline()
                except Exception:
                    break
                if not raw:
                    break
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    log("invalid UTF-8 from %s, closing (like signal-cli's reader)" % conn.name)
                    break
                line = line.rstrip("\n").rstrip("\r")
                msg = self.parse_line(conn, line)
                if msg is None:
                    continue
                t = threading.Thread(target=self.handle_message, args=(conn, msg), daemon=True)
                t.start()
        finally:
            st.remove_conn(conn)
            conn.close()
            log("client %s closed" % conn.name)

    def parse_line(self, conn, line):
        if line.strip() == "":
            conn.send(self.error_response(RpcError(PARSE_ERROR, "Empty input line"), None))
            return None
        try:
            node, _end = json.JSONDecoder().raw_decode(line.strip())  # trailing tokens ignored like Jackson
        except ValueError as e:
            msg = getattr(e, "msg", str(e))
            col = getattr(e, "colno", 0)
            conn.send(self.error_response(RpcError(
                PARSE_ERROR, "%s\n at [Source: REDACTED; line: 1, column: %d]" % (msg, col)), None))
            return None
        if isinstance(node, list):
            if not node:
                conn.send(self.error_response(RpcError(INVALID_REQUEST, "invalid request"), None))
                return None
            return ("batch", node)
        if isinstance(node, dict):
            if "result" in node or "error" in node:
                return None  # a response from the client: ignored (logged by signal-cli)
            try:
                return ("request", self.parse_request(node))
            except RpcError as e:
                conn.send(self.error_response(e, self.value_id(node)))
                return None
        kind = {bool: "BOOLEAN", int: "NUMBER", float: "NUMBER", str: "STRING", type(None): "NULL"}.get(
            type(node), "MISSING")
        conn.send(self.error_response(RpcError(INVALID_REQUEST, "unexpected type: " + kind), None))
        return None

    @staticmethod
    def value_id(node):
        if isinstance(node, dict):
            i = node.get("id")
            if not isinstance(i, (dict, list)):
                return i
        return None

    def parse_request(self, node):
        if "params" in node and node["params"] is None:
            node = dict(node)
            del node["params"]  # workaround in JsonRpcReader for "params":null
        for k in node:
            if k not in REQUEST_FIELDS:
                raise RpcError(INVALID_REQUEST,
                               'Unrecognized field "%s" (class org.asamk.signal.jsonrpc.JsonRpcRequest), not '
                               'marked as ignorable (4 known properties: "jsonrpc", "method", "id", "params"])' % k)
        if "params" in node and not isinstance(node["params"], (dict, list)):
            raise RpcError(INVALID_REQUEST, "Cannot deserialize value of type "
                           "`com.fasterxml.jackson.databind.node.ContainerNode<?>` from %s value"
                           % java_type(node["params"]).rsplit(".", 1)[1])
        if "id" in node and isinstance(node["id"], (dict, list)):
            raise RpcError(INVALID_REQUEST, "Cannot deserialize value of type "
                           "`com.fasterxml.jackson.databind.node.ValueNode` from %s value"
                           % ("Object" if isinstance(node["id"], dict) else "Array"))
        if node.get("jsonrpc") != "2.0":
            raise RpcError(INVALID_REQUEST, "only jsonrpc version 2.0 is supported")
        if node.get("method") is None:
            raise RpcError(INVALID_REQUEST, "method field must be set")
        return {"method": str(node["method"]), "params": node.get("params"), "has_id": "id" in node,
                "id": node.get("id")}

    @staticmethod
    def error_response(err, rid):
        return {"jsonrpc": "2.0", "error": err.obj(), "id": rid}

    def handle_message(self, conn, msg):
        kind, payload = msg
        if kind == "request":
            resp, post = self.handle_request(conn, payload)
            if resp is not None:
                conn.send(resp)
            if post:
                post()
            return
        # batch
        responses, posts, threads = [], [], []
        lock = threading.Lock()

        def run(req):
            r, p = self.handle_request(conn, req)
            with lock:
                if r is not None:
                    responses.append(r)
                if p:
                    posts.append(p)

        for node in payload:
            if not isinstance(node, dict):
                responses.append(self.error_response(
                    RpcError(INVALID_REQUEST, "Cannot deserialize value of type "
                             "`org.asamk.signal.jsonrpc.JsonRpcRequest` from %s value"
                             % java_type(node).rsplit(".", 1)[1]), None))
                continue
            try:
                req = self.parse_request(node)
            except RpcError as e:
                responses.append(self.error_response(e, self.value_id(node)))
                continue
            t = threading.Thread(target=run, args=(req,), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        if responses:
            conn.send(responses)
        for p in posts:
            p()

    def handle_request(self, conn, req):
        post = None
        try:
            result, post = self.dispatch(conn, req["method"], req["params"])
            if not req["has_id"]:
                return None, post
            return {"jsonrpc": "2.0", "result": result, "id": req["id"]}, post
        except RpcError as e:
            if not req["has_id"]:
                return None, post
            return self.error_response(e, req["id"]), post
        except Exception as e:  # any other failure -> INTERNAL_ERROR like runCommand
            log("internal error in %s: %r" % (req["method"], e))
            if not req["has_id"]:
                return None, post
            return self.error_response(RpcError(INTERNAL_ERROR, "%s (%s)" % (e, type(e).__name__)), req["id"]), post

    # ------------------------------------------------------------ dispatch
    SINGLE = {"send", "listGroups", "listContacts", "getUserStatus", "receive", "addDevice", "listDevices",
              "sendTyping", "sendReceipt", "sendReaction", "getAttachment", "sendSyncRequest", "version",
              "subscribeReceive", "unsubscribeReceive"}
    MULTI = {"version", "listAccounts", "startLink", "finishLink", "subscribeReceive", "unsubscribeReceive"}
    # request types: "map" (JsonRpcLocalCommand), "void", "node", or a record field tuple
    REQUEST_TYPE = {
        "receive": ("org.asamk.signal.commands.ReceiveCommand$ReceiveParams", ("timeout", "maxMessages")),
        "finishLink": ("org.asamk.signal.commands.FinishLinkCommand$FinishLinkParams",
                       ("deviceLinkUri", "deviceName")),
        "subscribeReceive": "void", "startLink": "void",
        "unsubscribeReceive": "node",
    }

    def dispatch(self, conn, method, params):
        st = self.st
        is_single = method in self.SINGLE
        is_multi = method in self.MULTI
        if not is_single and not is_multi:
            if method in UNIMPLEMENTED_REAL_METHODS:
                raise RpcError(INTERNAL_ERROR, "Method %s is not implemented by the signal-cli stand-in "
                                               "(UnsupportedOperationException)" % method)
            raise RpcError(METHOD_NOT_FOUND, "Method not implemented")
        if st.multi:
            if is_single:
                acct = self.account_from_params(params)
                if acct is not None:
                    return self.run(conn, method, params, acct)
            if is_multi:
                return self.run(conn, method, params, None)
            if is_single:
                with st.lock:
                    accts = list(st.accounts.values())
                if len(accts) == 1:
                    return self.run(conn, method, params, accts[0])
                raise RpcError(INVALID_PARAMS, "Method requires valid account parameter")
        else:
            if is_single:
                return self.run(conn, method, params, st.default_account())
        raise RpcError(METHOD_NOT_FOUND, "Method not implemented")

    def account_from_params(self, params):
        if isinstance(params, dict) and params.get("account") is not None:
            key = params.pop("account")
            acct = self.st.find_account(key if isinstance(key, str) else dumps(key))
            if acct is None:
                raise RpcError(INVALID_PARAMS, "Specified account does not exist")
            return acct
        return None

    def run(self, conn, method, params, acct):
        rtype = self.REQUEST_TYPE.get(method, "map")
        if rtype == "map":
            if params is not None and not isinstance(params, dict):
                raise RpcError(INVALID_REQUEST, "Cannot deserialize value of type "
                               "`java.util.LinkedHashMap<java.lang.String,java.lang.Object>` from Array value "
                               "(token `JsonToken.START_ARRAY`)")
            arg = Namespace(params)
        elif rtype == "void":
            arg = None
        elif rtype == "node":
            arg = params
        else:
            cls, fields = rtype
            if params is not None:
                if not isinstance(params, dict):
                    raise RpcError(INVALID_REQUEST, "Cannot deserialize value of type `%s` from Array value "
                                                    "(token `JsonToken.START_ARRAY`)" % cls)
                for k in params:
                    if k not in fields:
                        raise RpcError(INVALID_REQUEST,
                                       'Unrecognized field "%s" (class %s), not marked as ignorable (%d known '
                                       'properties: %s])' % (k, cls, len(fields),
                                                             ", ".join('"%s"' % f for f in fields)))
            arg = params or {}
        fn = getattr(self, "m_" + method)
        out = fn(conn, acct, arg)
        if isinstance(out, tuple):
            result, post = out
        else:
            result, post = out, None
        if result is None:
            result = {}  # runCommand: no output -> Map.of()
        return result, post

    # ------------------------------------------------------------ methods
    def m_version(self, conn, acct, ns):
        return {"version": self.st.version}

    def m_listAccounts(self, conn, acct, ns):
        with self.st.lock:
            return [{"number": a.number} for a in self.st.accounts.values()]

    def m_subscribeReceive(self, conn, acct, _):
        st = self.st
        accts = [acct] if acct else list(st.accounts.values())
        sid = st.new_sub(conn, accts, internal=False)
        return sid, (lambda: st.pump())

    def m_unsubscribeReceive(self, conn, acct, node):
        st = self.st
        sid = None
        if isinstance(node, list):
            sid = node[0] if node else None
            if sid is None:
                raise RpcError(INTERNAL_ERROR, "Cannot invoke \"com.fasterxml.jackson.databind.JsonNode.asInt()\" "
                                               "because the return value of \"ArrayNode.get(int)\" is null "
                                               "(NullPointerException)")
        elif isinstance(node, dict):
            if "subscription" not in node:
                raise RpcError(INTERNAL_ERROR, "Cannot invoke \"com.fasterxml.jackson.databind.JsonNode.asInt()\" "
                                               "because the return value of \"ObjectNode.get(String)\" is null "
                                               "(NullPointerException)")
            sid = node["subscription"]
        if sid is not None:
            try:
                sid = int(sid)
            except (TypeError, ValueError):
                sid = 0  # JsonNode.asInt() default
        with st.lock:
            if sid is None:
                if acct is None:  # multi-account route
                    raise user_error("Missing subscription parameter with subscription id")
                cands = sorted(k for k, s in st.subs.items() if s.conn is conn and s.accounts == {acct.number})
                if cands:
                    del st.subs[cands[0]]
                return None
            s = st.subs.get(sid)
            if s is None or s.conn is not conn:
                raise user_error("Unknown subscription id")
            del st.subs[sid]
        return None

    def m_receive(self, conn, acct, params):
        st = self.st
        timeout = params.get("timeout")
        max_messages = params.get("maxMessages")
        if timeout is None:
            timeout = 3.0
        if max_messages is None:
            max_messages = -1
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            raise RpcError(INVALID_REQUEST, "Cannot deserialize value of type `java.lang.Double` from %s"
                           % java_type(timeout))
        if not isinstance(max_messages, int) or isinstance(max_messages, bool):
            raise RpcError(INVALID_REQUEST, "Cannot deserialize value of type `java.lang.Integer` from %s"
                           % java_type(max_messages))
        with st.lock:
            if st.is_receiving(acct) or acct.sync_receivers > 0:
                raise user_error("Receive command cannot be used if messages are already being received.")
            acct.sync_receivers += 1
        msgs = []
        try:
            idle = None if timeout < 0 else float(timeout)
            if idle is not None and idle * 1000 <= 0:
                return []
            with st.lock:
                deadline = None if idle is None else time.monotonic() + idle
                while max_messages < 0 or len(msgs) < max_messages:
                    if STOP.is_set():
                        break
                    if acct.queue:
                        item = acct.queue.pop(0)
                        msgs.append(item["params"])
                        # handlers that exist meanwhile also get it (passReceivedMessageToHandlers)
                        n = st._deliver(acct, item)
                        st.delivery[item["seq"]] = n + 1
                        if idle is not None:
                            deadline = time.monotonic() + idle  # timeout is per message, not total
                        continue
                    if deadline is None:
                        st.cond.wait(0.5)
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    st.cond.wait(min(remaining, 0.5))
        finally:
            with st.lock:
                acct.sync_receivers -= 1
            st.pump(acct)
        return msgs

    def _recipients(self, acct, ns, allow_note_to_self=True):
        note_to_self = bool(ns.get_bool("note-to-self")) if allow_note_to_self else False
        rec = ns.get_list("recipient") or []
        gids = ns.get_list("group-id") or []
        users = ns.get_list("username") or []
        parsed = [(r, parse_recipient(r)) for r in rec]
        groups = [parse_group_id(g) for g in gids]
        if not note_to_self and not parsed and not groups and not users:
            raise user_error("No recipients given")
        return note_to_self, parsed, groups, users

    def _build_results(self, acct, note_to_self, parsed, groups, users, notify_self=False):
        """Returns [(recipientAddress, groupId or None, type)] like ManagerImpl.sendMessage."""
        st = self.st
        results = []
        seen = set()
        if note_to_self:
            results.append((acct.addr(), None, "SUCCESS"))
            seen.add(("self",))
        for _raw, (kind, val) in parsed:
            if (kind == "number" and val == acct.number) or (kind == "uuid" and val == acct.uuid):
                key = ("self",)  # sending to the own number = note to self (sync message)
            else:
                key = (kind, val)
            if key in seen:
                continue  # recipients are a Set in signal-cli
            seen.add(key)
            if kind == "number" and val in st.unregistered:
                results.append(({"uuid": None, "number": val, "username": None}, None, "UNREGISTERED_FAILURE"))
                continue
            results.append((st.lookup_number_addr(acct, kind, val), None, "SUCCESS"))
        for u in users:
            if ("username", u) in seen:
                continue
            seen.add(("username", u))
            results.append((st.lookup_number_addr(acct, "username", u), None, "SUCCESS"))
        for gid in groups:
            with st.lock:
                g = acct.groups.get(gid)
            if g is None:
                raise user_error("Group not found: " + gid)
            if not g["isMember"]:
                raise user_error("User is not a member in group: %s (%s)" % (g["name"], gid))
            for m in g["members"]:
                if m == acct.number and not notify_self:
                    continue
                kind, val = parse_recipient(m)
                rtype = "UNREGISTERED_FAILURE" if m in st.unregistered else "SUCCESS"
                results.append((st.lookup_number_addr(acct, kind, val), gid, rtype))
        return results

    def _send_common(self, conn, acct, method, raw_params, note_to_self, parsed, groups, users, extra,
                     notify_self=False):
        """Builds results, applies injected failures, logs, returns the JSON result."""
        st = self.st
        built = self._build_results(acct, note_to_self, parsed, groups, users, notify_self)
        with st.lock:
            failure = st.fail_queue[0] if st.fail_queue and method == "send" else None
            if failure is not None:
                failure["count"] -= 1
                if failure["count"] <= 0:
                    st.fail_queue.pop(0)
            delay = st.send_delay_ms
        if delay:
            time.sleep(delay / 1000.0)
        ts = st.next_ts()
        entry = {"method": method, "account": acct.number, "params": raw_params,
                 "recipients": [p[1][1] if p[1][0] != "username" else "u:" + p[1][1] for p in parsed],
                 "group_ids": groups, "usernames": users, "note_to_self": note_to_self}
        entry.update(extra)
        entry["timestamp"] = ts
        if failure is not None and failure.get("error") is not None:
            err = failure["error"]
            e = RpcError(int(err.get("code", USER_ERROR)), str(err.get("message", "Failed to send message")),
                         err.get("data"))
            entry.update(ok=False, error=e.obj())
            st.record_send(entry)
            raise e
        results = []
        for addr, gid, rtype in built:
            if failure is not None and failure.get("type"):
                only = failure.get("only")
                if not only or addr.get("number") in only or addr.get("uuid") in only:
                    rtype = failure["type"]
            r = {"recipientAddress": addr}
            if gid is not None:
                r["groupId"] = gid
            r["type"] = rtype
            if rtype == "RATE_LIMIT_FAILURE" and failure is not None and failure.get("retry_after_seconds"):
                r["retryAfterSeconds"] = int(failure["retry_after_seconds"])
            results.append(r)
        result = {"timestamp": ts, "results": results}
        has_success = any(r["type"] == "SUCCESS" for r in results) or not results
        if has_success:
            entry.update(ok=True, result=result)
            st.record_send(entry)
            return result
        # SendMessageResultUtils.outputResult: no success at all -> error with data.response
        if all(r["type"] == "IDENTITY_FAILURE" for r in results):
            e = RpcError(UNTRUSTED_KEY_ERROR, "Failed to send message due to untrusted identities",
                         {"response": result})
        elif all(r["type"] == "RATE_LIMIT_FAILURE" for r in results):
            e = RpcError(RATELIMIT_ERROR, "Failed to send message due to rate limiting", {"response": result})
        else:
            e = user_error("Failed to send message", {"response": result})
        entry.update(ok=False, result=result, error=e.obj())
        st.record_send(entry)
        raise e

    def _load_attachment(self, spec):
        if spec.startswith("data:"):
            m = re.match(r"^data:([^;,]*)((?:;[^;,]*)*?)(;base64)?,(.*)$", spec, re.S)
            if not m:
                raise RpcError(INTERNAL_ERROR, "Failed to send message: Invalid data URI (AttachmentInvalidException)"
                                               " (UnexpectedErrorException)")
            mime = m.group(1) or "application/octet-stream"
            fname = None
            for part in (m.group(2) or "").split(";"):
                if part.startswith("filename="):
                    fname = urllib.parse.unquote(part[len("filename="):])
            try:
                data = base64.b64decode(m.group(4)) if m.group(3) else urllib.parse.unquote_to_bytes(m.group(4))
            except (binascii.Error, ValueError):
                raise RpcError(INTERNAL_ERROR, "Failed to send message: Invalid data URI "
                                               "(AttachmentInvalidException) (UnexpectedErrorException)")
            return {"source": "data-uri", "contentType": mime, "filename": fname, "size": len(data)}
        path = spec
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise RpcError(INTERNAL_ERROR, "Failed to send message: %s: No such file or directory "
                                           "(AttachmentInvalidException) (UnexpectedErrorException)" % path)
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return {"source": os.path.abspath(path), "contentType": mime, "filename": os.path.basename(path),
                "size": os.path.getsize(path)}

    def m_send(self, conn, acct, ns):
        raw_params = dict(ns.p)
        notify_self = bool(ns.get_bool("notify-self"))
        note_to_self, parsed, groups, users = self._recipients(acct, ns)
        if ns.get_bool("end-session"):
            if not parsed:
                raise user_error("No recipients given")
            return None
        sticker = ns.get_string("sticker")
        if sticker is not None:
            m = re.match(r"^([0-9a-f]+):([0-9]+)$", sticker)
            if not m or len(m.group(1)) % 2:
                raise user_error("Invalid sticker syntax (%s) expected 'stickerPackId:stickerId'" % sticker)
        message = ns.get_string("message")
        if message is None:
            message = ""
        attachments = ns.get_list("attachment") or []
        for mention in ns.get_list("mention") or []:
            if not re.match(r"^(\d+):(\d+):(.+)$", mention):
                raise user_error("Invalid mention syntax (%s) expected 'start:length:recipientNumber'" % mention)
        for style in ns.get_list("text-style") or []:
            m = re.match(r"^(\d+):(\d+):(.+)$", style)
            if not m:
                raise user_error("Invalid textStyle syntax (%s) expected 'start:length:STYLE'" % style)
            if m.group(3).upper() not in ("NONE", "BOLD", "ITALIC", "SPOILER", "STRIKETHROUGH", "MONOSPACE"):
                raise user_error("Invalid style: " + m.group(3))
        quote_ts = ns.get_long("quote-timestamp")
        if quote_ts is not None and ns.get_string("quote-author") is None:
            raise user_error("Quote author parameter is missing")
        if message == "" and not attachments and sticker is None and quote_ts is None:
            raise user_error("Sending empty message is not allowed, either a message, attachment or sticker "
                             "must be given.")
        atts = [self._load_attachment(a) for a in attachments]
        extra = {"message": message, "attachments": atts, "view_once": bool(ns.get_bool("view-once")),
                 "edit_timestamp": ns.get_long("edit-timestamp"), "quote_timestamp": quote_ts}
        return self._send_common(conn, acct, "send", raw_params, note_to_self, parsed, groups, users, extra,
                                 notify_self)

    def m_sendReaction(self, conn, acct, ns):
        raw_params = dict(ns.p)
        note_to_self, parsed, groups, users = self._recipients(acct, ns)
        emoji = ns.get_string("emoji")
        target_author = ns.get_string("target-author")
        target_ts = ns.get_long("target-timestamp")
        if target_author is None and not (len(parsed) == 1 and not groups and not users and not note_to_self):
            raise RpcError(INTERNAL_ERROR, "Cannot invoke \"String.startsWith(String)\" because \"identifier\" "
                                           "is null (NullPointerException)")
        if target_author is not None:
            parse_recipient(target_author)
        extra = {"emoji": emoji, "remove": bool(ns.get_bool("remove")), "target_author": target_author,
                 "target_timestamp": target_ts}
        return self._send_common(conn, acct, "sendReaction", raw_params, note_to_self, parsed, groups, users,
                                 extra, bool(ns.get_bool("notify-self")))

    def m_sendTyping(self, conn, acct, ns):
        raw_params = dict(ns.p)
        rec = ns.get_list("recipient") or []
        gids = ns.get_list("group-id") or []
        parsed = [(r, parse_recipient(r)) for r in rec]
        groups = [parse_group_id(g) for g in gids]
        if not parsed and not groups:
            raise user_error("No recipients given")
        for gid in groups:
            if gid not in acct.groups:
                raise user_error("Failed to send to group: Group not found: " + gid)
        extra = {"action": "STOP" if ns.get_bool("stop") else "START"}
        return self._send_common(conn, acct, "sendTyping", raw_params, False, parsed, groups, [], extra)

    def m_sendReceipt(self, conn, acct, ns):
        raw_params = dict(ns.p)
        r = ns.get_string("recipient")
        if r is None:
            raise RpcError(INTERNAL_ERROR, "Cannot invoke \"String.startsWith(String)\" because \"identifier\" is "
                                           "null (NullPointerException)")
        parsed = [(r, parse_recipient(r))]
        tss = ns.get_list("target-timestamp", elem=int)
        rtype = ns.get_string("type")
        if rtype not in (None, "read", "viewed"):
            raise user_error("Unknown receipt type: " + rtype)
        extra = {"receipt_type": rtype or "read", "target_timestamps": tss}
        return self._send_common(conn, acct, "sendReceipt", raw_params, False, parsed, [], [], extra)

    def m_sendSyncRequest(self, conn, acct, ns):
        return None

    def m_listGroups(self, conn, acct, ns):
        st = self.st
        gids = ns.get_list("group-id")
        wanted = [parse_group_id(g) for g in gids] if gids else None
        out = []
        with st.lock:
            for g in acct.groups.values():
                if wanted is not None and g["id"] not in wanted:
                    continue
                members = []
                for m in g["members"]:
                    kind, val = parse_recipient(m)
                    a = st.lookup_number_addr(acct, kind, val)
                    members.append({"number": a["number"], "uuid": a["uuid"], "isAdmin": m in g["admins"]})
                admins = [{"number": x["number"], "uuid": x["uuid"]} for x in members if x["isAdmin"]]
                out.append({
                    "id": g["id"], "name": g["name"], "description": g["description"], "isMember": g["isMember"],
                    "isBlocked": g["isBlocked"], "messageExpirationTime": g["messageExpirationTime"],
                    "members": members, "pendingMembers": [], "requestingMembers": [], "admins": admins,
                    "banned": [], "permissionAddMember": "EVERY_MEMBER", "permissionEditDetails": "EVERY_MEMBER",
                    "permissionSendMessage": "EVERY_MEMBER", "groupInviteLink": None})
        return out

    def m_listContacts(self, conn, acct, ns):
        st = self.st
        all_recipients = bool(ns.get_bool("all-recipients"))
        rec = ns.get_list("recipient")
        wanted = None
        if rec:
            wanted = set()
            for r in rec:
                kind, val = parse_recipient(r)
                wanted.add(val)
        name = ns.get_string("name")
        out = []
        with st.lock:
            for c in acct.contacts.values():
                if not all_recipients and not c["isContact"] and wanted is None:
                    continue
                if wanted is not None and c["number"] not in wanted and c["uuid"] not in wanted:
                    continue
                if name is not None and name not in (c["name"], c["profileName"]):
                    continue
                out.append({
                    "number": c["number"], "uuid": c["uuid"], "username": c["username"], "name": c["name"] or "",
                    "givenName": c["name"], "familyName": None, "nickName": None, "nickGivenName": None,
                    "nickFamilyName": None, "note": None, "color": None, "isArchived": False, "isBlocked": False,
                    "isHidden": False, "messageExpirationTime": 0, "profileSharing": False, "unregistered": False,
                    "profile": None if c["profileName"] is None else {
                        "lastUpdateTimestamp": now_ms(), "givenName": c["profileName"], "familyName": None,
                        "about": None, "aboutEmoji": None, "hasAvatar": False, "mobileCoinAddress": None}})
        return out

    def m_getUserStatus(self, conn, acct, ns):
        st = self.st
        out = []
        for r in ns.get_list("recipient") or []:
            stripped = re.sub(r"[^0-9+]", "", r) if "@" not in r else ""
            number = stripped if E164_RE.match(stripped or "") else None
            registered = number is not None and number not in st.unregistered
            item = {"recipient": r}
            if number is not None:
                item["number"] = number
            item["uuid"] = derive_uuid(number) if registered else None
            item["isRegistered"] = registered
            out.append(item)
        for u in ns.get_list("username") or []:
            out.append({"recipient": u, "username": u, "uuid": derive_uuid("u:" + u), "isRegistered": True})
        return out

    def m_listDevices(self, conn, acct, ns):
        with self.st.lock:
            return [dict(d) for d in acct.devices]

    def m_addDevice(self, conn, acct, ns):
        uri = ns.get_string("uri")
        if uri is None:
            raise RpcError(INTERNAL_ERROR, "Cannot invoke \"String.length()\" because \"str\" is null "
                                           "(NullPointerException)")
        parsed = urllib.parse.urlsplit(uri)
        if not parsed.query:
            raise RpcError(INTERNAL_ERROR, "Invalid device link uri (RuntimeException)")
        q = {}
        for part in parsed.query.split("&"):
            k, _, v = part.partition("=")
            q[urllib.parse.unquote(k)] = urllib.parse.unquote(v.replace("+", "%2B"))
        ident, pub = q.get("uuid"), q.get("pub_key")
        if not ident or not pub:
            raise user_error("Invalid device link")
        try:
            key = base64.b64decode(pub + "=" * (-len(pub) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise user_error("Invalid device link")
        if len(key) != 33 or key[0] != 0x05:
            raise user_error("Invalid device link")
        with self.st.lock:
            if acct.device_id != 1:
                raise user_error("This command doesn't work on linked devices.")
            new_id = max(d["id"] for d in acct.devices) + 1
            acct.devices.append({"id": new_id, "name": None, "createdTimestamp": now_ms(),
                                 "lastSeenTimestamp": now_ms()})
        return None

    def m_getAttachment(self, conn, acct, ns):
        att_id = ns.get_string("id")
        if att_id is None:
            raise user_error("Missing attachment id parameter")
        data = acct.attachments.get(att_id)
        if data is None and self.st.attachments_dir:
            p = os.path.join(self.st.attachments_dir, re.sub(r"[^A-Za-z0-9_.-]", "_", att_id))
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    data = f.read()
        if data is None:
            raise user_error("Could not find attachment with ID: " + att_id)
        return {"data": base64.b64encode(data).decode()}

    def m_startLink(self, conn, acct, _):
        st = self.st
        uri = make_link_uri()
        with st.lock:
            st.links[uri] = {"state": "pending", "number": None, "error": None}
            st.link_order.append(uri)
            st.cond.notify_all()
        if st.cfg.link_number:
            threading.Thread(target=self._auto_link, args=(uri,), daemon=True).start()
        return {"deviceLinkUri": uri}

    def _auto_link(self, uri):
        time.sleep(self.st.cfg.link_delay)
        complete_link(self.st, uri, self.st.cfg.link_number)

    def m_finishLink(self, conn, acct, params):
        st = self.st
        uri = params.get("deviceLinkUri")
        name = params.get("deviceName") or "cli"
        if uri is None:
            raise user_error("Missing deviceLinkUri.")
        deadline = time.monotonic() + st.cfg.link_timeout
        with st.lock:
            link = st.links.get(uri)
            if link is None:
                raise user_error("Unknown device link uri.")
            link["name"] = name
            while link["state"] == "pending":
                rem = deadline - time.monotonic()
                if rem <= 0 or STOP.is_set():
                    link["state"], link["error"] = "failed", "timeout"
                    break
                st.cond.wait(min(rem, 0.5))
            st.links.pop(uri, None)
            if link["state"] == "failed":
                if link["error"] == "io":
                    raise RpcError(IO_ERROR, "Link request error: Connection closed! (IOException)")
                raise user_error("Link request timed out, please try again.")
            number = link["number"]
            if number not in st.accounts:
                a = Account(number, None, device_id=2)
                st.accounts[number] = a
                # addOnManagerAddedHandler: existing multi subscriptions get the new account
                for s in st.subs.values():
                    if len(s.accounts) != 1 or s.internal:
                        s.accounts.add(number)
        st.pump()
        return {"number": number}


def make_link_uri():
    # DeviceLinkUrl.createDeviceLinkUri: URL-encoded id and unpadded base64 Curve25519 key (0x05 prefix)
    ident = base64.b64encode(secrets.token_bytes(16)).decode()
    pub = base64.b64encode(b"\x05" + secrets.token_bytes(32)).decode().replace("=", "")
    return "sgnl://linkdevice?uuid=%s&pub_key=%s" % (urllib.parse.quote(ident, safe=""),
                                                     urllib.parse.quote(pub, safe=""))


def complete_link(st, uri, number, error=None):
    with st.lock:
        if uri is None:
            pend = [u for u in st.link_order if u in st.links and st.links[u]["state"] == "pending"]
            if not pend:
                return False
            uri = pend[-1]
        link = st.links.get(uri)
        if link is None or link["state"] != "pending":
            return False
        if error:
            link["state"], link["error"] = "failed", error
        else:
            link["state"], link["number"] = "done", number
        st.cond.notify_all()
        return True


# ----------------------------------------------------------------------------- control port

class Control:
    def __init__(self, st, rpc):
        self.st = st
        self.rpc = rpc

    def handle(self, sock):
        rfile = sock.makefile("rb")
        try:
            while not STOP.is_set():
                raw = rfile.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                try:
                    op = json.loads(line)
                    if not isinstance(op, dict):
                        raise ValueError("control request must be a JSON object")
                    reply = self.op(op)
                except Exception as e:
                    reply = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
                sock.sendall((dumps(reply) + "\n").encode("utf-8"))
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def op(self, op):
        st = self.st
        name = op.get("op")
        if name == "inject":
            env = op.get("envelope")
            if not isinstance(env, dict):
                raise ValueError("'envelope' object required")
            acct = st.default_account(op.get("account"))
            r = st.inject(acct, env, op.get("exception"))
            return dict(ok=True, **r)
        if name == "inject_text":
            acct = st.default_account(op.get("account"))
            with st.lock:
                env, ts = st.build_text_envelope(acct, op)
            r = st.inject(acct, env, None)
            return dict(ok=True, timestamp=ts, envelope=env, **r)
        if name == "sent":
            with st.lock:
                items = list(st.sent)
            if op.get("method"):
                items = [e for e in items if e["method"] == op["method"]]
            return {"ok": True, "sent": items}
        if name == "fail_next_send":
            spec = {"count": int(op.get("count", 1))}
            if op.get("error") is not None:
                if not isinstance(op["error"], dict):
                    raise ValueError("'error' must be a JSON-RPC error object")
                spec["error"] = op["error"]
            elif op.get("type"):
                if op["type"] not in SEND_RESULT_TYPES:
                    raise ValueError("unknown type; one of %s" % ", ".join(SEND_RESULT_TYPES))
                spec["type"] = op["type"]
                spec["only"] = op.get("only")
                spec["retry_after_seconds"] = op.get("retry_after_seconds")
            else:
                spec["error"] = {"code": USER_ERROR, "message": "Failed to send message", "data": None}
            with st.lock:
                st.fail_queue.append(spec)
            return {"ok": True, "pending_failures": len(st.fail_queue)}
        if name == "set_send_delay":
            with st.lock:
                st.send_delay_ms = int(op.get("ms", 0))
            return {"ok": True}
        if name == "status":
            with st.lock:
                return {"ok": True, "mode": st.mode, "multi_account": st.multi, "version": st.version,
                        "accounts": {a.number: {"uuid": a.uuid, "queued": len(a.queue),
                                                "receiving": st.is_receiving(a) or a.sync_receivers > 0}
                                     for a in st.accounts.values()},
                        "connections": len(st.connections),
                        "subscriptions": [{"id": s.id, "connection": s.conn.id, "internal": s.internal,
                                           "accounts": sorted(s.accounts)} for s in st.subs.values()],
                        "sent": len(st.sent)}
        if name == "queue":
            acct = st.default_account(op.get("account"))
            with st.lock:
                return {"ok": True, "queued": [i["params"] for i in acct.queue]}
        if name == "wait_receiving":
            acct = st.default_account(op.get("account"))
            deadline = time.monotonic() + float(op.get("timeout", 5))
            with st.lock:
                while True:
                    rec = (any(acct.number in s.accounts for s in st.subs.values()) or acct.sync_receivers > 0)
                    rem = deadline - time.monotonic()
                    if rec or rem <= 0:
                        return {"ok": rec, "receiving": rec, **({} if rec else {"error": "timeout"})}
                    st.cond.wait(min(rem, 0.2))
        if name == "wait_connections":
            want = int(op.get("count", 1))
            deadline = time.monotonic() + float(op.get("timeout", 5))
            with st.lock:
                while True:
                    n = len(st.connections)
                    rem = deadline - time.monotonic()
                    if n >= want or rem <= 0:
                        return {"ok": n >= want, "connections": n}
                    st.cond.wait(min(rem, 0.2))
        if name == "add_group":
            acct = st.default_account(op.get("account"))
            gid = parse_group_id(op["group_id"]) if op.get("group_id") else \
                base64.b64encode(secrets.token_bytes(32)).decode()
            with st.lock:
                g = st._group(acct, gid, op.get("name") or "Group", op.get("members") or [])
                g["admins"].update(op.get("admins") or [])
            return {"ok": True, "group_id": gid}
        if name == "add_contact":
            acct = st.default_account(op.get("account"))
            with st.lock:
                c = st._contact(acct, op["number"], name=op.get("name"), uuid=op.get("uuid"), is_contact=True)
            return {"ok": True, "contact": {"number": c["number"], "uuid": c["uuid"], "name": c["name"]}}
        if name == "set_unregistered":
            with st.lock:
                st.unregistered = set(op.get("numbers") or [])
            return {"ok": True}
        if name == "complete_link":
            if not op.get("number") or not E164_RE.match(op["number"]):
                raise ValueError("'number' (E.164) required")
            return {"ok": complete_link(st, op.get("uri"), op["number"])}
        if name == "fail_link":
            return {"ok": complete_link(st, op.get("uri"), None, op.get("error") or "timeout")}
        if name == "drop_connections":
            with st.lock:
                conns = list(st.connections)
            for c in conns:
                c.close()
            return {"ok": True, "dropped": len(conns)}
        if name == "shutdown":
            STOP.set()
            return {"ok": True}
        raise ValueError("unknown op %r" % name)


# ----------------------------------------------------------------------------- servers

def parse_hostport(s, default):
    s = s or default
    host, _, port = s.rpartition(":")
    if not host:
        raise SystemExit("Invalid tcp bind address (expected host:port): " + s)
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    return host, int(port)


def listen(hostport):
    host, port = hostport
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(64)
    srv.settimeout(0.5)
    return srv


def accept_loop(srv, on_client):
    while not STOP.is_set():
        try:
            s, addr = srv.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        s.settimeout(None)
        threading.Thread(target=on_client, args=(s, addr), daemon=True).start()


def socket_conn(s, addr):
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(data):
        s.settimeout(10)  # a client that stops reading must not wedge the stand-in forever
        s.sendall(data)

    def close():
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    return Conn(s.makefile("rb"), write, close, "%s:%s" % addr[:2])


def fmt_addr(srv):
    h, p = srv.getsockname()[:2]
    return "%s:%d" % (h, p)


def run_daemon(cfg):
    st = Standin(cfg)
    rpc = RpcServer(st)
    ctl = Control(st, rpc)
    servers = []

    def on_stop(signum, frame):
        STOP.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    ctl_srv = None
    if cfg.control:
        ctl_srv = listen(parse_hostport(cfg.control, None))
        servers.append(ctl_srv)
        threading.Thread(target=accept_loop, args=(ctl_srv, lambda s, a: ctl.handle(s)), daemon=True).start()

    if cfg.stdio:
        # `signal-cli jsonRpc`: one client on stdin/stdout
        out = sys.stdout.buffer

        def write(data):
            out.write(data)
            out.flush()

        conn = Conn(sys.stdin.buffer, write, lambda: None, "stdio")
        log("jsonRpc on stdin/stdout%s" % (" (control %s)" % fmt_addr(ctl_srv) if ctl_srv else ""))
        t = threading.Thread(target=lambda: (rpc.handle_connection(conn), STOP.set()), daemon=True)
        t.start()
    else:
        rpc_srv = listen(parse_hostport(cfg.tcp, "localhost:7583"))
        servers.append(rpc_srv)

        def on_rpc(s, a):
            c = socket_conn(s, a)
            rpc.handle_connection(c)

        threading.Thread(target=accept_loop, args=(rpc_srv, on_rpc), daemon=True).start()
        line = "signal-cli stand-in: listening on %s" % fmt_addr(rpc_srv)
        if ctl_srv:
            line += " (control %s)" % fmt_addr(ctl_srv)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        log("mode=%s accounts=%s multi=%s sent-log=%s" % (cfg.receive_mode, ",".join(cfg.accounts), cfg.multi,
                                                        cfg.sent_log))

    while not STOP.is_set():
        STOP.wait(0.5)
    log("shutting down")
    with st.lock:
        st.cond.notify_all()
        conns = list(st.connections)
    for s in servers:
        try:
            s.close()
        except OSError:
            pass
    for c in conns:
        c.close()
    return 0


# ----------------------------------------------------------------------------- CLI

class Cfg:
    pass


def env(name, default=None):
    return os.environ.get("SIGNAL_CLI_STANDIN_" + name, default)


def read_linked_accounts(data_dir):
    p = os.path.join(data_dir, "standin-accounts.json") if data_dir else None
    if p and os.path.isfile(p):
        with open(p) as f:
            return json.load(f).get("accounts", [])
    return []


def run_link(data_dir, name):
    uri = make_link_uri()
    sys.stdout.write(uri + "\n")  # LinkCommand prints the URI (QR code only if a console is attached)
    sys.stdout.flush()
    result = env("LINK_RESULT", "ok")
    time.sleep(float(env("LINK_DELAY", "0.2")))
    if result == "timeout":
        sys.stderr.write("Link request timed out, please try again.\n")
        return 1
    if result == "io":
        sys.stderr.write("Link request error: Connection closed!\n")
        return 3
    number = env("LINK_NUMBER", "+15550000001")
    if data_dir:
        os.makedirs(data_dir, exist_ok=True)
        accts = read_linked_accounts(data_dir)
        if number not in accts:
            accts.append(number)
        with open(os.path.join(data_dir, "standin-accounts.json"), "w") as f:
            json.dump({"accounts": accts, "deviceName": name or "cli"}, f)
    sys.stdout.write("Associated with: %s\n" % number)
    sys.stdout.flush()
    return 0


def signal_cli_style(argv):
    """Parses `[-a ACCOUNT] [--config DIR] [-o json] ... daemon|jsonRpc|link|version ...`."""
    p = argparse.ArgumentParser(prog="signal-cli", add_help=True)
    p.add_argument("--version", action="store_true")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("--log-file")
    p.add_argument("--scrub-log", action="store_true")
    p.add_argument("-c", "--config", "-d", "--data-dir", dest="data_dir")
    p.add_argument("-a", "-u", "--account", "--username", dest="account")
    p.add_argument("--service-environment")
    p.add_argument("-o", "--output")
    p.add_argument("--trust-new-identities")
    p.add_argument("--disable-send-log", action="store_true")
    p.add_argument("--dbus", action="store_true")
    p.add_argument("--dbus-system", action="store_true")
    p.add_argument("--bus-name")
    sub = p.add_subparsers(dest="command")
    d = sub.add_parser("daemon")
    d.add_argument("--tcp", nargs="?", const="localhost:7583")
    d.add_argument("--socket", nargs="?", const="")
    d.add_argument("--http", nargs="?", const="localhost:8080")
    d.add_argument("--dbus", action="store_true")
    d.add_argument("--dbus-system", "--system", action="store_true")
    d.add_argument("--bus-name")
    d.add_argument("--no-receive-stdout", action="store_true")
    d.add_argument("--receive-mode", choices=["on-start", "on-connection", "manual"], default="on-start")
    for f in ("--ignore-attachments", "--ignore-stories", "--ignore-avatars", "--ignore-stickers",
              "--send-read-receipts"):
        d.add_argument(f, action="store_true")
    j = sub.add_parser("jsonRpc")
    j.add_argument("--receive-mode", choices=["on-start", "manual"], default="on-start")
    for f in ("--ignore-attachments", "--ignore-stories", "--ignore-avatars", "--ignore-stickers",
              "--send-read-receipts"):
        j.add_argument(f, action="store_true")
    lk = sub.add_parser("link")
    lk.add_argument("-n", "--name")
    sub.add_parser("version")
    a = p.parse_args(argv)
    if a.version or a.command == "version":
        sys.stdout.write("signal-cli %s\n" % env("VERSION", EMULATED_VERSION))
        return 0
    if a.command == "link":
        if a.account:
            sys.stderr.write("You cannot specify a account (phone number) when linking\n")
            return 1
        return run_link(a.data_dir, a.name)
    if a.command not in ("daemon", "jsonRpc"):
        sys.stderr.write("signal-cli stand-in: only daemon, jsonRpc, link and version are implemented\n")
        return 2
    cfg = Cfg()
    if a.account:
        cfg.accounts, cfg.multi = [a.account], False
    else:
        cfg.accounts = read_linked_accounts(a.data_dir) or ["+15550000001"]
        cfg.multi = True
    cfg.receive_mode = a.receive_mode
    cfg.stdio = a.command == "jsonRpc"
    if a.command == "daemon":
        if a.tcp is None:
            sys.stderr.write("signal-cli stand-in: only --tcp is implemented\n")
            return 1
        cfg.tcp = a.tcp
    else:
        cfg.tcp = None
    cfg.control = env("CONTROL")
    cfg.sent_log = env("SENT_LOG")
    cfg.self_name = env("SELF_NAME")
    cfg.contacts, cfg.groups, cfg.unregistered = [], [], []
    cfg.attachments_dir = os.path.join(a.data_dir, "attachments") if a.data_dir else None
    cfg.link_number = env("LINK_NUMBER")
    cfg.link_delay = float(env("LINK_DELAY", "0.2"))
    cfg.link_timeout = float(env("LINK_TIMEOUT", "60"))
    cfg.version_string = env("VERSION", EMULATED_VERSION)
    return run_daemon(cfg)


def direct_style(argv):
    p = argparse.ArgumentParser(description="Scripted stand-in for `signal-cli -a ACCOUNT daemon --tcp HOST:PORT` "
                                            "(tests only; the Signal network is not reachable).")
    p.add_argument("--account", action="append", required=True,
                   help="account number (repeat with --multi-account)")
    p.add_argument("--multi-account", action="store_true",
                   help="behave like `signal-cli daemon` without -a (requests carry \"account\")")
    p.add_argument("--tcp", required=True, help="JSON-RPC listen HOST:PORT (port 0 = pick one)")
    p.add_argument("--control", help="control listen HOST:PORT (port 0 = pick one)")
    p.add_argument("--sent-log", help="append one JSON line per send, fsynced before the reply")
    p.add_argument("--receive-mode", choices=["on-start", "on-connection", "manual"], default="on-start")
    p.add_argument("--self-name", help="profile name of the account (sourceName of sync messages)")
    p.add_argument("--contact", action="append", default=[], help="NUMBER=NAME")
    p.add_argument("--group", action="append", default=[], help="BASE64ID=NAME")
    p.add_argument("--unregistered", action="append", default=[], help="number that is not on Signal")
    p.add_argument("--attachments-dir", help="also write injected attachments here (like DATA_DIR/attachments)")
    p.add_argument("--link-number", help="auto-complete startLink/finishLink with this number")
    p.add_argument("--link-delay", type=float, default=0.2)
    p.add_argument("--link-timeout", type=float, default=60.0)
    p.add_argument("--version-string", default=EMULATED_VERSION)
    a = p.parse_args(argv)
    if len(a.account) > 1 and not a.multi_account:
        p.error("several --account values need --multi-account")
    for n in a.account:
        if not E164_RE.match(n):
            p.error("--account must be E.164: %s" % n)
    cfg = Cfg()
    cfg.accounts, cfg.multi = a.account, a.multi_account
    cfg.tcp, cfg.control, cfg.sent_log = a.tcp, a.control, a.sent_log
    cfg.receive_mode, cfg.stdio = a.receive_mode, False
    cfg.self_name, cfg.contacts, cfg.groups = a.self_name, a.contact, a.group
    cfg.unregistered, cfg.attachments_dir = a.unregistered, a.attachments_dir
    cfg.link_number, cfg.link_delay, cfg.link_timeout = a.link_number, a.link_delay, a.link_timeout
    cfg.version_string = a.version_string
    return run_daemon(cfg)


def main(argv):
    if any(x in ("daemon", "jsonRpc", "link", "version") for x in argv) or argv[:1] == ["--version"]:
        return signal_cli_style(argv)
    return direct_style(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
