"""The anchor log: the audit chains' heads kept outside the database (`lvyue audit anchor`).

Someone with database access can delete a contract's newest events and move its recorded head back, or
delete the contract: the chain left behind is consistent. An anchor entry records every chain's head
(seq and hash) at an instant, in a file the database does not hold; `lvyue audit verify` then finds a
chain that falls short of, or differs at, a head once anchored, and an anchored contract that is gone.

The log is JSON lines, one entry per anchoring, appended (O_APPEND, fsync) and never rewritten:

    {"v": 1, "n": 7, "at": "2026-09-01T08:00:00.123000+00:00", "prev": "<hash of entry 6>",
     "count": 1000, "digest": "<sha256 over every head>", "heads": {"<instance id>": {"seq": 42,
     "hash": "…", "key": "<business key>"}, …}, "gone": [], "hash": "<sha256 of this entry>"}

`heads` holds the heads that changed since the previous entry (all of them in the first), so an idle
system adds a few hundred bytes per anchoring; replaying the entries gives every head, and `digest` (over
the lines "id seq hash" of all heads, sorted) and `count` check the replay. `prev` links each entry to the
one before, so an edited or removed line breaks the log's own chain. Entries are written under an
exclusive lock on the file: processes on one host sharing it (serve and workers) append in turn, and a
second anchoring in the same moment just adds an entry with no changed heads.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from engine import clock
from engine.runtime.audit import GENESIS, AnchoredHead
from engine.storage.db import Database
from engine.storage.models import Instance

FILENAME = "audit-anchor.jsonl"
VERSION = 1
_BATCH = 1000


def configured_path(instance_path: str | os.PathLike | None = None, configured: str | os.PathLike | None = None) -> Path:
    """Where the anchor log is: `configured` (LVYUE_AUDIT_ANCHOR, engine/settings.py) if given, else
    audit-anchor.jsonl in the instance folder (default ./instance)."""
    if configured:
        return Path(configured)
    return Path(instance_path or "instance") / FILENAME


def _entry_hash(entry: dict) -> str:
    body = json.dumps({k: v for k, v in entry.items() if k != "hash"}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def heads_digest(heads: dict[str, tuple[int, str]]) -> str:
    """The digest over every head: sha256 of the lines "id seq hash", sorted by id."""
    h = hashlib.sha256()
    for iid in sorted(heads):
        seq, digest = heads[iid]
        h.update(f"{iid} {seq} {digest}\n".encode())
    return h.hexdigest()


@dataclass
class Log:
    """An anchor log read back: the heads as its last entry left them, the highest head ever anchored per
    instance (what verify holds the chains to), and what is wrong with the log itself."""

    path: Path
    entries: int = 0
    last_hash: str = GENESIS
    last_at: str | None = None
    current: dict[str, tuple[int, str]] = field(default_factory=dict)
    keys: dict[str, str | None] = field(default_factory=dict)
    anchored: dict[str, AnchoredHead] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read(path: str | os.PathLike) -> Log:
    """Replay the anchor log at `path` (an absent file is an empty log), checking its own chain."""
    log = Log(Path(path))
    try:
        text = log.path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return log
    _replay(log, text)
    return log


def _replay(log: Log, text: str) -> None:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            heads, gone = entry["heads"], entry.get("gone", [])
            n, at, prev, stated = entry["n"], entry["at"], entry["prev"], entry["hash"]
        except (ValueError, KeyError, TypeError):
            log.problems.append(f"line {number} is not an anchor entry")
            continue
        if _entry_hash(entry) != stated:
            log.problems.append(f"line {number} (entry {n} of {at}): its content does not match its hash")
        if prev != log.last_hash:
            log.problems.append(f"line {number} (entry {n} of {at}): does not link to the entry before it")
        if n != log.entries + 1:
            log.problems.append(f"line {number} (entry {n} of {at}): expected entry {log.entries + 1}")
        for iid in gone:
            log.current.pop(iid, None)
        for iid, head in heads.items():
            seq, digest, key = int(head["seq"]), head["hash"], head.get("key")
            log.current[iid] = (seq, digest)
            if key is not None:
                log.keys[iid] = key
            best = log.anchored.get(iid)
            if best is None or seq > best.seq:
                log.anchored[iid] = AnchoredHead(seq, digest, log.keys.get(iid), at)
            elif seq == best.seq and digest != best.hash:
                log.problems.append(f"line {number} (entry {n} of {at}): instance {iid} seq {seq} was anchored "
                                    f"before with another hash")
        if entry.get("count") != len(log.current) or entry.get("digest") != heads_digest(log.current):
            log.problems.append(f"line {number} (entry {n} of {at}): its digest does not match the heads anchored")
        log.entries, log.last_hash, log.last_at = n, stated, at


def _db_heads(db: Database):
    """(id, business key, seq, hash) of every chain, a batch at a time."""
    after = ""
    with db.read() as session:
        while True:
            batch = session.execute(select(Instance.id, Instance.business_key, Instance.audit_seq, Instance.audit_head)
                                    .where(Instance.id > after, Instance.audit_head.is_not(None))
                                    .order_by(Instance.id).limit(_BATCH)).all()
            yield from batch
            if len(batch) < _BATCH:
                return
            after = batch[-1].id


def write(db: Database, path: str | os.PathLike) -> dict:
    """Append one entry with the current chain heads to the anchor log at `path` (created if absent) and
    return it. Appends only: the file is opened O_APPEND, written in one write and fsynced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # serve and workers on one host append in turn
        with open(fd, "r", encoding="utf-8", closefd=False) as f:
            f.seek(0)
            text = f.read()
        previous = Log(path)
        _replay(previous, text)
        now = {}
        changed = {}
        for iid, key, seq, digest in _db_heads(db):
            now[iid] = (seq, digest)
            if previous.current.get(iid) != (seq, digest):
                changed[iid] = {"seq": seq, "hash": digest, "key": key}
        entry = {"v": VERSION, "n": previous.entries + 1, "at": clock.now().isoformat(), "prev": previous.last_hash,
                 "count": len(now), "digest": heads_digest(now), "heads": changed,
                 "gone": sorted(set(previous.current) - set(now))}
        entry["hash"] = _entry_hash(entry)
        line = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
        if text and not text.endswith("\n"):
            line = "\n" + line  # a torn last line stays a line of its own (verify reports it), not part of this one
        data = line.encode("utf-8")
        while data:  # one write as a rule; a short write (full disk, signal) goes on where it stopped
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock
    if created:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return entry
