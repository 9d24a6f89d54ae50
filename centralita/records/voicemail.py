"""Voicemail boxes on disk and in the store.

A recorded message (the WAV a :class:`~centralita.media.recorder.MessageRecorder` wrote,
anywhere on the same machine) is *filed*: moved to
``<data_dir>/voicemail/<tenant>/<box>/<id>.wav`` and recorded in the store, both or neither:
if the store refuses the row, the file goes back where it came from, so a message is never
left half-filed nor lost. Files are private to the PBX's user (0600, directories 0700): they
are people's voices.

The methods block (file system and database): asyncio code calls them through
``asyncio.to_thread``, as it does the store's.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

from centralita.media.wavfile import read_wav
from centralita.store import Store, TenantInfo
from centralita.store.voicemail import (
    VoicemailCounts,
    VoicemailMessage,
    VoicemailMessageNotFound,
)

# An extension number ("101") or a shared box name ("general", a slug): safe as a directory.
_BOX = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$")


class InvalidBox(ValueError):
    def __init__(self, box: str) -> None:
        super().__init__(
            f"invalid voicemail box {box!r}: an extension number or a name of lower-case "
            "letters, digits, '-' and '_'"
        )
        self.box = box


class VoicemailStore:
    """Voicemail of every tenant under ``data_dir``; rows in ``store``."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.root = Path(data_dir) / "voicemail"

    def box_dir(self, tenant: TenantInfo, box: str) -> Path:
        return self.root / _checked(tenant.name) / _checked(box)

    def file(
        self,
        tenant: TenantInfo,
        box: str,
        recording: Path,
        *,
        caller: str,
        caller_name: str | None = None,
        received_at: datetime | None = None,
        duration: float | None = None,
    ) -> VoicemailMessage:
        """Move ``recording`` into ``box`` and record it; the new message (unheard).

        ``duration`` defaults to the WAV's own length. A file that is not a readable WAV
        raises :class:`~centralita.media.wavfile.MediaFileError` and is left where it is."""
        message_id = secrets.token_hex(16)
        target = self.box_dir(tenant, box) / f"{message_id}.wav"
        audio = read_wav(recording)
        if duration is None:
            duration = len(audio.samples) / audio.format.sample_rate
        message = VoicemailMessage(
            id=message_id,
            tenant_id=tenant.id,
            box=box,
            caller=caller,
            caller_name=caller_name,
            received_at=received_at or datetime.now(UTC),
            duration=duration,
            path=str(target),
        )
        _make_private_dirs(target.parent, self.root)
        shutil.move(recording, target)
        try:
            target.chmod(0o600)
            self.store.voicemail.add(message)
        except BaseException:
            shutil.move(target, recording)  # the recording must outlive the failure
            raise
        return message

    def get(self, tenant: TenantInfo, message_id: str) -> VoicemailMessage:
        found = self.store.voicemail.get(tenant.id, message_id)
        if found is None:
            raise VoicemailMessageNotFound(tenant.id, message_id)
        return found

    def messages(
        self, tenant: TenantInfo, box: str, *, heard: bool | None = None
    ) -> list[VoicemailMessage]:
        """The box's messages, oldest first, deleted ones left out."""
        return self.store.voicemail.list(tenant.id, _checked(box), heard=heard)

    def counts(self, tenant: TenantInfo, box: str) -> VoicemailCounts:
        return self.store.voicemail.counts(tenant.id, _checked(box))

    def mark_heard(self, tenant: TenantInfo, message_id: str) -> VoicemailMessage:
        return self.store.voicemail.mark_heard(tenant.id, message_id)

    def delete(self, tenant: TenantInfo, message_id: str) -> VoicemailMessage:
        """Mark deleted; :meth:`purge` removes it for good."""
        return self.store.voicemail.delete(tenant.id, message_id)

    def purge(self, tenant: TenantInfo, box: str | None = None) -> list[VoicemailMessage]:
        """Remove deleted messages (rows, then files) of a box or of the whole tenant."""
        gone = self.store.voicemail.purge(tenant.id, None if box is None else _checked(box))
        for message in gone:
            Path(message.path).unlink(missing_ok=True)
        return gone


def _checked(name: str) -> str:
    if not _BOX.match(name):
        raise InvalidBox(name)
    return name


def _make_private_dirs(path: Path, root: Path) -> None:
    """``path`` and its missing parents up to ``root``, 0700 (umask notwithstanding)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        if created == root or root in created.parents:
            os.chmod(created, 0o700)
