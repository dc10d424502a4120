"""Read a Slack workspace export (zip or folder; Slack's official layout and slackdump's, which copies it).

Layout: `channels.json` (public), `groups.json` (private), `dms.json`, `mpims.json`, `users.json`, and one folder
per conversation (named after the channel, or the DM's id) holding one JSON file per day.

Zip archives are untrusted input: member names must be relative and stay inside the archive, and the number of
files and the total unpacked size are capped *while reading* (declared sizes in a zip can lie).
"""
from __future__ import annotations

import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ingest.types import (IngestError, RejectedFile, SlackChannelRecord, SlackExport, SlackMessageRecord,
                          SlackUserRecord)


@dataclass(frozen=True)
class ExportLimits:
    max_zip_bytes: int = 2 * 1024**3  # the archive itself
    max_unpacked_bytes: int = 4 * 1024**3  # sum of all members, counted as they are read
    max_files: int = 200_000
    max_ratio: int = 200  # a member that unpacks to more than 200x its compressed size is a bomb


METADATA_FILES = {"channels.json": "public", "groups.json": "private", "dms.json": "dm", "mpims.json": "mpim"}
_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
_TEAM_DOMAIN = re.compile(r"^https://([a-z0-9][a-z0-9-]*)\.slack\.com/(?:archives|files)/")
_NOT_TEAMS = {"files", "app", "api", "hooks", "www", "a", "status", "edgeapi"}


class _Reader:
    """Uniform access to export members by their path relative to the export root."""

    def names(self) -> list[str]:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError


class _FolderReader(_Reader):
    def __init__(self, root: Path, limits: ExportLimits):
        self.root = root
        self.limits = limits
        files = [p for p in root.rglob("*") if p.is_file()]
        if len(files) > limits.max_files:
            raise IngestError(f"export folder has {len(files)} files, more than the limit of {limits.max_files}")
        self._names = sorted(p.relative_to(root).as_posix() for p in files)

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


class _ZipReader(_Reader):
    def __init__(self, path: Path, limits: ExportLimits):
        self.limits = limits
        size = path.stat().st_size
        if size > limits.max_zip_bytes:
            raise IngestError(f"{path.name}: archive is {size:,} bytes, over the upload limit of "
                              f"{limits.max_zip_bytes:,} bytes")
        try:
            self.zf = zipfile.ZipFile(path)
            infos = self.zf.infolist()
        except zipfile.BadZipFile as exc:
            raise IngestError(f"{path.name}: not a valid zip archive ({exc})") from None
        # a directory naming a zip version or feature Python does not read, or a damaged one: hostile, not a crash
        except (NotImplementedError, zipfile.LargeZipFile, EOFError, ValueError) as exc:
            raise IngestError(f"{path.name}: not a readable zip archive ({exc})") from None
        except OSError as exc:
            raise IngestError(f"{path.name}: cannot read the archive ({exc})") from None
        files = [i for i in infos if not i.is_dir()]
        if len(files) > limits.max_files:
            raise IngestError(f"{path.name}: archive holds {len(files)} files, more than the limit of "
                              f"{limits.max_files} (zip bomb?)")
        declared = 0
        for info in infos:
            name = info.filename
            pure = PurePosixPath(name.replace("\\", "/"))
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or pure.is_absolute():
                raise IngestError(f"{path.name}: unsafe absolute path in archive: {name!r}")
            if ".." in pure.parts:
                raise IngestError(f"{path.name}: unsafe path escaping the archive: {name!r}")
            declared += info.file_size
            if info.compress_size and info.file_size / info.compress_size > limits.max_ratio and info.file_size > 1 << 20:
                raise IngestError(f"{path.name}: member {name!r} expands {info.file_size / info.compress_size:.0f}x "
                                  f"(zip bomb?)")
        if declared > limits.max_unpacked_bytes:
            raise IngestError(f"{path.name}: archive unpacks to {declared:,} bytes, over the limit of "
                              f"{limits.max_unpacked_bytes:,} (zip bomb?)")
        self.infos = {i.filename: i for i in files}
        self.unpacked = 0

    def names(self) -> list[str]:
        return sorted(self.infos)

    def read(self, name: str) -> bytes:
        budget = self.limits.max_unpacked_bytes - self.unpacked
        try:
            with self.zf.open(self.infos[name]) as fh:
                data = fh.read(budget + 1)  # never trust the declared size
        except zipfile.BadZipFile as exc:
            raise IngestError(f"corrupt zip member {name!r}: {exc}") from None
        # zlib.error, an unsupported compression method (NotImplementedError) or an encrypted member
        # (RuntimeError) are corrupt or hostile archives too, not crashes
        except (zipfile.LargeZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError,
                RuntimeError) as exc:
            raise IngestError(f"corrupt zip member {name!r}: {exc}") from None
        self.unpacked += len(data)
        if len(data) > budget:
            raise IngestError(f"archive unpacks to more than the limit of {self.limits.max_unpacked_bytes:,} bytes "
                              f"(zip bomb?)")
        return data


def _open(path: Path, limits: ExportLimits) -> _Reader:
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    if path.is_dir():
        return _FolderReader(path, limits)
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic[:2] != b"PK":
        raise IngestError(f"{path.name}: not a zip archive or export folder (a Slack export is a .zip or a folder)")
    return _ZipReader(path, limits)


def without_nul(value: Any) -> Any:
    """`value` (parsed JSON) with every NUL character dropped from its strings: Slack lets "\\u0000" through, and
    PostgreSQL text cannot hold it (one such message failed the whole import)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


def _parse_json(data: bytes) -> Any:
    text = data.decode("utf-8-sig")
    parsed = json.loads(text)
    return without_nul(parsed) if "\\u0000" in text else parsed  # the walk only where a NUL can be


def _load_json(reader: _Reader, name: str) -> Any:
    data = reader.read(name)
    try:
        return _parse_json(data)
    except UnicodeDecodeError:
        raise IngestError(f"{name}: not UTF-8 text, so not a Slack export file") from None
    except json.JSONDecodeError as exc:
        raise IngestError(f"{name}: invalid JSON ({exc.msg} at line {exc.lineno})") from None


def _find_root(names: list[str]) -> str:
    """The folder inside the archive that holds the export (some zips wrap it in a top folder)."""
    candidates = sorted({n.rsplit("/", 1)[0] if "/" in n else "" for n in names
                         if n.rsplit("/", 1)[-1] in (*METADATA_FILES, "users.json")}, key=len)
    if not candidates:
        raise IngestError("not a Slack export: none of channels.json, groups.json, dms.json, mpims.json or "
                          "users.json was found")
    return candidates[0]


def _str_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _team_of_channel(c: dict[str, Any]) -> str | None:
    team = c.get("context_team_id") or c.get("conversation_host_id")
    shared = c.get("shared_team_ids")
    if not team and isinstance(shared, list) and len(shared) == 1:
        team = shared[0]
    return str(team) if isinstance(team, str) and team else None


def _file_domains(m: Any) -> list[tuple[str | None, str]]:
    """(team id, domain) from the `permalink` fields of a message's file objects — export metadata, not links
    that people pasted into the text."""
    if not isinstance(m, dict):
        return []
    out = []
    files = m.get("files") if isinstance(m.get("files"), list) else []  # hostile exports: any JSON value here
    for f in files + ([m["file"]] if isinstance(m.get("file"), dict) else []):
        if not isinstance(f, dict):
            continue
        for key in ("permalink", "permalink_public"):
            hit = _TEAM_DOMAIN.match(str(f.get(key) or ""))
            if hit and hit.group(1) not in _NOT_TEAMS:
                team = f.get("user_team") or m.get("team") or m.get("user_team")
                out.append((str(team) if team else None, hit.group(1)))
                break
    return out


def channel_domains(channels: list[SlackChannelRecord], team_domains: dict[str, set[str]],
                    own_domains: dict[str, set[str]], message_teams: dict[str, dict[str, int]]) -> dict[str, str]:
    """The workspace domain of each channel, from the export's own metadata: the channel's team
    (`context_team_id`, else the team its messages carry) -> the domain of that team's file permalinks; else
    the domain of the channel's own files; else the export's only domain. Unknown stays unknown."""
    everywhere = set().union(*team_domains.values(), *own_domains.values()) if (team_domains or own_domains) else set()
    out = {}
    for ch in channels:
        teams = message_teams.get(ch.channel_id, {})
        team = ch.team_id or (max(sorted(teams), key=teams.get) if teams else None)
        cands = team_domains.get(team or "", set())
        if len(cands) != 1:
            cands = own_domains.get(ch.channel_id, set())
        if len(cands) != 1:
            cands = everywhere
        if len(cands) == 1:
            out[ch.channel_id] = next(iter(cands))
    return out


def _parse_channels(data: Any, file: str, kind: str) -> list[SlackChannelRecord]:
    if not isinstance(data, list) or not all(isinstance(c, dict) and "id" in c for c in data):
        raise IngestError(f"{file} is not Slack's format: expected a list of conversations, each with an 'id'")
    out = []
    for c in data:
        k = kind
        if kind == "public" and (c.get("is_private") or c.get("is_group")):
            k = "private"
        if kind == "dm":
            name = c.get("name") or "dm-" + "-".join(_str_list(c.get("members"))) or c["id"]
        else:
            name = c.get("name") or c["id"]
        topic, purpose = c.get("topic"), c.get("purpose")
        out.append(SlackChannelRecord(
            channel_id=str(c["id"]), name=str(name), kind=k, members=_str_list(c.get("members")),
            topic=str(topic.get("value") or "") if isinstance(topic, dict) else "",
            purpose=str(purpose.get("value") or "") if isinstance(purpose, dict) else "",
            team_id=_team_of_channel(c)))
    return out


def parse_users(data: Any, file: str = "users.json") -> list[SlackUserRecord]:
    if not isinstance(data, list) or not all(isinstance(u, dict) and "id" in u for u in data):
        raise IngestError(f"{file} is not Slack's format: expected a list of users, each with an 'id'")
    out = []
    for u in data:
        profile = u.get("profile") if isinstance(u.get("profile"), dict) else {}
        out.append(SlackUserRecord(user_id=str(u["id"]), name=str(u.get("name") or u["id"]),
                             display_name=(profile.get("display_name") or None),
                             real_name=(u.get("real_name") or profile.get("real_name") or None),
                             title=(profile.get("title") or None),
                             is_bot=bool(u.get("is_bot") or u.get("is_app_user")),
                             deleted=bool(u.get("deleted"))))
    return out


def _str_or_none(value: Any) -> str | None:
    # ids and subtypes are looked up in sets later: a hostile file's dicts/lists there must not crash that
    return value if isinstance(value, str) and value else None


def parse_message(m: dict[str, Any], channel_id: str) -> SlackMessageRecord:
    """One message dict (export day file or Web API) → record with raw markup."""
    reactions = {}
    for r in m.get("reactions") or []:
        if isinstance(r, dict) and r.get("name"):
            reactions[str(r["name"])] = _str_list(r.get("users"))
    files = []
    listed = m.get("files") if isinstance(m.get("files"), list) else []  # hostile exports: any JSON value here
    for f in listed + ([m["file"]] if isinstance(m.get("file"), dict) else []):
        if isinstance(f, dict):
            name = f.get("title") or f.get("name")
            if name and f.get("mode") != "tombstone":
                files.append(str(name))
    attachments = []
    for a in m.get("attachments") or []:
        if isinstance(a, dict):
            part = "\n".join(str(a[k]) for k in ("pretext", "title", "text") if a.get(k)) or str(a.get("fallback") or "")
            if part:
                attachments.append(part)
    profile = m.get("user_profile") if isinstance(m.get("user_profile"), dict) else {}
    user_name = (profile.get("display_name") or profile.get("real_name") or m.get("username")
                 or (m.get("bot_profile") or {}).get("name") or None)
    edited = m.get("edited") if isinstance(m.get("edited"), dict) else {}
    thread_ts = m.get("thread_ts")
    return SlackMessageRecord(
        channel_id=channel_id, ts=str(m["ts"]), user_id=_str_or_none(m.get("user")), raw_text=str(m.get("text") or ""),
        thread_ts=str(thread_ts) if thread_ts else None, subtype=_str_or_none(m.get("subtype")),
        bot_id=_str_or_none(m.get("bot_id")),
        user_name=user_name, reactions=reactions, edited_ts=(str(edited["ts"]) if edited.get("ts") else None),
        reply_count=int(m.get("reply_count") or 0), files=files, attachments_text="\n".join(attachments))


def read_export(path: str | Path, limits: ExportLimits = ExportLimits()) -> SlackExport:
    """Parse a whole export. Archive-level problems raise IngestError; a day file that is broken is listed in
    `rejected` and the rest of the export still comes through."""
    path = Path(path)
    reader = _open(path, limits)
    names = reader.names()
    root = _find_root(names)
    prefix = f"{root}/" if root else ""

    users: list[SlackUserRecord] = []
    if f"{prefix}users.json" in names:
        users = parse_users(_load_json(reader, f"{prefix}users.json"))
    channels: list[SlackChannelRecord] = []
    for file, kind in METADATA_FILES.items():
        if f"{prefix}{file}" in names:
            channels += _parse_channels(_load_json(reader, f"{prefix}{file}"), file, kind)
    if not channels:
        raise IngestError(f"{path.name}: not a Slack export: no conversations in channels.json, groups.json, "
                          f"dms.json or mpims.json")

    # Day files live in <root>/<folder>/<YYYY-MM-DD>.json; the folder is the channel's name, or a DM's id.
    by_folder: dict[str, list[str]] = {}
    for n in names:
        rel = n[len(prefix):] if n.startswith(prefix) else None
        if rel and rel.count("/") == 1:
            folder, file = rel.split("/")
            if _DAY_FILE.match(file):
                by_folder.setdefault(folder, []).append(n)

    messages: list[SlackMessageRecord] = []
    rejected: list[RejectedFile] = []
    team_domains: dict[str, set[str]] = {}
    own_domains: dict[str, set[str]] = {}
    message_teams: dict[str, dict[str, int]] = {}
    seen: set[tuple[str, str]] = set()
    for ch in channels:
        files = by_folder.pop(ch.name, None) or by_folder.pop(ch.channel_id, None) or []
        for name in sorted(files):
            raw = reader.read(name)
            try:
                data = _parse_json(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                rejected.append(RejectedFile(name, f"invalid JSON day file: {exc}"))
                continue
            if not isinstance(data, list):
                rejected.append(RejectedFile(name, "not Slack's format: a day file must be a list of messages"))
                continue
            bad = 0
            for m in data:
                for team, domain in _file_domains(m):
                    own_domains.setdefault(ch.channel_id, set()).add(domain)
                    if team:
                        team_domains.setdefault(team, set()).add(domain)
                if isinstance(m, dict) and isinstance(m.get("team"), str):
                    counts = message_teams.setdefault(ch.channel_id, {})
                    counts[m["team"]] = counts.get(m["team"], 0) + 1
                if not isinstance(m, dict) or "ts" not in m or m.get("type", "message") != "message":
                    bad += 1
                    continue
                try:
                    rec = parse_message(m, ch.channel_id)
                except (TypeError, ValueError, AttributeError):  # fields of the wrong type: not a Slack message
                    bad += 1
                    continue
                if (rec.channel_id, rec.ts) in seen:  # slackdump may repeat a thread parent across days
                    continue
                seen.add((rec.channel_id, rec.ts))
                messages.append(rec)
            if bad:
                rejected.append(RejectedFile(name, f"{bad} entr{'y' if bad == 1 else 'ies'} without a message 'ts' "
                                                   f"skipped (not Slack messages)"))
    for folder, files in sorted(by_folder.items()):
        rejected.append(RejectedFile(f"{prefix}{folder}/", f"{len(files)} day file(s) for a conversation not listed "
                                                           f"in channels/groups/dms/mpims.json"))
    domains = channel_domains(channels, team_domains, own_domains, message_teams)
    distinct = set(domains.values())
    team = next(iter(distinct)) if len(distinct) == 1 else None
    return SlackExport(channels=channels, users=users, messages=messages, team_domain=team,
                       channel_domains=domains, rejected=rejected)

