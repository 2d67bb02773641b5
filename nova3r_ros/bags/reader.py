"""Read rosbag2 folders (MCAP or sqlite3) message by message, tolerating damage.

A bag is a folder with ``metadata.yaml`` and its storage files, or one ``.mcap`` /
``.db3`` file. Connections come from ``metadata.yaml`` (or, without it, from a scan
of the file). Messages are yielded in file order as ``(topic, msgtype, log_time_ns,
cdr_bytes)``, never decoded here. MCAP files are scanned record by record from the
start (chunks with no, lz4 or zstd compression), so a truncated or corrupt file
yields every message before the damage and then raises :class:`BagCorrupt` with the
file and the byte offset; sqlite3 files raise it with the row where reading failed.
A path that is not a bag raises :class:`BagError`. ROS-free (``rosbags`` helpers only).
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MCAP_MAGIC = b"\x89MCAP0\r\n"
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_FOOTER, OP_DATA_END = 3, 4, 5, 6, 2, 15


class BagError(ValueError):
    """The path is not a readable rosbag2 (one-line message)."""


class BagCorrupt(Exception):
    """A storage file is damaged at ``offset``; messages before it were read."""

    def __init__(self, file: Path, offset: str, reason: str) -> None:
        super().__init__(f"{file}: unreadable from {offset} on ({reason})")
        self.file, self.offset, self.reason = file, offset, reason


@dataclass(frozen=True)
class Connection:
    """One topic of a bag: name, message type, and whether it was offered latched."""

    topic: str
    msgtype: str
    latched: bool = False


@dataclass
class Bag:
    """A bag's storage files (in order), storage id and connections."""

    path: Path
    storage: str
    files: list[Path]
    connections: list[Connection] = field(default_factory=list)
    message_count: int | None = None

    def messages(self, topics=None) -> Iterator[tuple[str, str, int, bytes]]:
        """Yield ``(topic, msgtype, log_time_ns, raw)``; raise BagCorrupt after damage."""
        wanted = None if topics is None else set(topics)
        for f in self.files:
            scan = _mcap_messages(f) if self.storage == "mcap" else _sqlite_messages(f)
            for topic, msgtype, t, raw in scan:
                if wanted is None or topic in wanted:
                    yield topic, msgtype, t, raw


def _latched_from_qos(text) -> bool:
    return "transient_local" in str(text).lower() or "durability: 1" in str(text)


def open_bag(path: str | Path) -> Bag:
    """Describe the bag at ``path`` (folder or single file); raise BagError if it is none."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such file or folder")
    if path.is_file():
        storage = {".mcap": "mcap", ".db3": "sqlite3"}.get(path.suffix)
        if storage is None:
            raise BagError(f"{path}: not a rosbag2 file (expected .mcap or .db3)")
        bag = Bag(path, storage, [path])
        bag.connections = _scan_connections(bag)
        return bag
    meta = path / "metadata.yaml"
    if not meta.is_file():
        found = sorted(path.glob("*.mcap")) or sorted(path.glob("*.db3"))
        if not found:
            raise BagError(f"{path}: not a rosbag2 folder (no metadata.yaml, .mcap or .db3)")
        bag = Bag(path, "mcap" if found[0].suffix == ".mcap" else "sqlite3", found)
        bag.connections = _scan_connections(bag)
        return bag
    return _from_metadata(path, meta)


def _from_metadata(path: Path, meta: Path) -> Bag:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe").load(meta.read_text())["rosbag2_bagfile_information"]
        storage = str(doc["storage_identifier"])
        files = [path / f for f in doc["relative_file_paths"]]
        conns = []
        for entry in doc.get("topics_with_message_count", []):
            tm = entry["topic_metadata"]
            latched = _latched_from_qos(tm.get("offered_qos_profiles", ""))
            conns.append(Connection(tm["name"], tm["type"], latched))
        count = int(doc.get("message_count", 0))
    except (YAMLError, KeyError, TypeError, ValueError) as exc:
        raise BagError(f"{meta}: not rosbag2 metadata ({type(exc).__name__}: {exc})") from exc
    if storage not in ("mcap", "sqlite3"):
        raise BagError(f"{meta}: storage {storage!r} is not supported (mcap or sqlite3)")
    if doc.get("compression_mode"):
        raise BagError(f"{meta}: file-compressed bags are not supported; decompress it first")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise BagError(f"{meta}: storage file {missing[0]} is missing")
    return Bag(path, storage, files, conns, count)


def _scan_connections(bag: Bag) -> list[Connection]:
    """Return the connections of a bag without metadata.yaml (a tolerant scan of its files)."""
    seen: dict[str, Connection] = {}
    for f in bag.files:
        if bag.storage == "sqlite3":
            try:
                with sqlite3.connect(f"file:{f}?mode=ro", uri=True) as db:
                    rows = db.execute("SELECT name, type, offered_qos_profiles FROM topics")
                    for name, typ, qos in rows:
                        seen.setdefault(name, Connection(name, typ, _latched_from_qos(qos)))
            except sqlite3.Error as exc:
                raise BagError(f"{f}: not a rosbag2 sqlite3 file ({exc})") from exc
            continue
        try:
            for topic, msgtype, latched in _mcap_channels(f):
                seen.setdefault(topic, Connection(topic, msgtype, latched))
        except BagCorrupt:
            pass  # channels before the damage are known; messages() reports the damage
    return list(seen.values())


# ----------------------------------------------------------------------------- MCAP
def _string(rec: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<I", rec, pos)
    return rec[pos + 4 : pos + 4 + n].decode(), pos + 4 + n


def _records(buf: bytes, start: int, file: Path, base: int, cut: bool):
    """Yield (opcode, body, file offset) of the records in ``buf[start:]``.

    ``base`` maps a position in ``buf`` to a file offset; ``cut``: ``buf`` ends where the
    file was cut, so a partial last record is reported as truncation.
    """
    pos = start
    while pos < len(buf):
        off = base + pos
        if pos + 9 > len(buf):
            raise BagCorrupt(file, f"byte {off}", "truncated record header")
        op = buf[pos]
        (n,) = struct.unpack_from("<Q", buf, pos + 1)
        if op == 0 or op > 0x80:
            raise BagCorrupt(file, f"byte {off}", f"invalid record opcode {op:#x}")
        end = pos + 9 + n
        body = buf[pos + 9 : min(end, len(buf))]
        if op == OP_CHUNK:
            yield from _chunk(body, off, file, cut and end > len(buf))
        elif end > len(buf):
            why = "the file ends inside this record" if cut else "record longer than its chunk"
            raise BagCorrupt(file, f"byte {off}", f"truncated record ({why})")
        else:
            yield op, body, off
        if op in (OP_FOOTER, OP_DATA_END):
            return
        pos = end


def _chunk(body: bytes, off: int, file: Path, cut: bool):
    """Yield the records of one chunk record (``body`` may be cut short by truncation)."""
    try:
        _, _, usize, _crc = struct.unpack_from("<QQQI", body, 0)
        comp, p = _string(body, 28)
        (clen,) = struct.unpack_from("<Q", body, p)
    except struct.error:
        raise BagCorrupt(file, f"byte {off}", "truncated chunk header") from None
    data = body[p + 8 : p + 8 + clen]
    if comp:
        if cut:
            raise BagCorrupt(file, f"byte {off}", f"truncated {comp} chunk")
        try:
            from rosbags.rosbag2.storage_mcap import DECOMPRESSORS

            data = DECOMPRESSORS[comp](data, usize)
        except Exception as exc:  # a damaged chunk: name it, keep what came before
            raise BagCorrupt(file, f"byte {off}", f"bad {comp} chunk ({exc})") from None
        yield from _records(data, 0, file, off, False)
        return
    yield from _records(data, 0, file, off + 9 + p + 8, cut)
    if cut:
        raise BagCorrupt(file, f"byte {off + 9 + len(body)}", "the file ends inside a chunk")


def _mcap_stream(file: Path):
    """Yield (opcode, body, offset) of every record, descending into chunks."""
    try:
        buf = file.read_bytes()
    except OSError as exc:
        raise BagError(f"{file}: cannot read ({exc})") from exc
    if buf[:8] != MCAP_MAGIC:
        raise BagError(f"{file}: not an MCAP file (bad magic)")
    for op, body, off in _records(buf, 8, file, 0, True):
        if op in (OP_FOOTER, OP_DATA_END):
            return
        yield op, body, off


def _mcap_channels(file: Path):
    schemas: dict[int, str] = {}
    for op, body, _ in _mcap_stream(file):
        if op == OP_SCHEMA:
            (sid,) = struct.unpack_from("<H", body, 0)
            schemas[sid] = _string(body, 2)[0]
        elif op == OP_CHANNEL:
            _cid, sid = struct.unpack_from("<HH", body, 0)
            topic, p = _string(body, 4)
            _, p = _string(body, p)  # message encoding
            (mlen,) = struct.unpack_from("<I", body, p)
            meta = body[p + 4 : p + 4 + mlen]
            yield topic, schemas.get(sid, ""), b"transient_local" in meta.lower()


def _mcap_messages(file: Path):
    schemas: dict[int, str] = {}
    channels: dict[int, tuple[str, str]] = {}
    for op, body, off in _mcap_stream(file):
        if op == OP_SCHEMA:
            (sid,) = struct.unpack_from("<H", body, 0)
            schemas[sid] = _string(body, 2)[0]
        elif op == OP_CHANNEL:
            cid, sid = struct.unpack_from("<HH", body, 0)
            channels[cid] = (_string(body, 4)[0], schemas.get(sid, ""))
        elif op == OP_MESSAGE:
            if len(body) < 22:
                raise BagCorrupt(file, f"byte {off}", "message record too short")
            cid, _seq, log_time = struct.unpack_from("<HIQ", body, 0)
            if cid not in channels:
                raise BagCorrupt(file, f"byte {off}", f"message on unknown channel {cid}")
            topic, msgtype = channels[cid]
            yield topic, msgtype, log_time, bytes(body[22:])


# --------------------------------------------------------------------------- sqlite3
def _sqlite_messages(file: Path):
    row = 0
    try:
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as db:
            topics = {i: (n, t) for i, n, t in db.execute("SELECT id, name, type FROM topics")}
            cur = db.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY id")
            for topic_id, stamp, data in cur:
                name, typ = topics[topic_id]
                row += 1
                yield name, typ, int(stamp), bytes(data)
    except (sqlite3.Error, KeyError) as exc:
        raise BagCorrupt(file, f"message {row + 1}", f"{type(exc).__name__}: {exc}") from None


def header_stamp(raw: bytes) -> int:
    """Return the header stamp (ns) of a CDR message that starts with std_msgs/Header."""
    sec, nsec = struct.unpack_from("<iI", raw, 4)
    return sec * 1_000_000_000 + nsec
