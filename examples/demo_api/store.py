"""The API's data, all in memory: users, sessions, shares and groups.

"Stored data" (users, shares, groups) lives on the pretend disk: writing it fails with
`DiskFullError` while the disk-full fault is on. Sessions are in memory only, like a session
cache, so login and logout keep working on a full disk; that is what made the real outage
confusing (people could sign in but not sign up or share).
"""

import hashlib
import hmac
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

# A demo that guards no real accounts: enough iterations to show the right shape (salted,
# slow hash, constant-time compare) while a login stays a few milliseconds.
_PBKDF2_ITERATIONS = 10_000


class StoreError(Exception):
    """Base of the errors the API turns into status codes."""


class DiskFullError(StoreError):
    def __init__(self) -> None:
        super().__init__("insufficient storage: the disk is full")


class ConflictError(StoreError):
    pass


class NotFoundError(StoreError):
    pass


class ForbiddenError(StoreError):
    pass


@dataclass(frozen=True)
class User:
    id: str
    email: str
    salt: bytes = field(repr=False)
    password_hash: bytes = field(repr=False)


@dataclass(frozen=True)
class Share:
    id: str
    owner_id: str
    name: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    owner_id: str
    member_ids: tuple[str, ...]


@dataclass(frozen=True)
class GroupView:
    """A group with member emails resolved, read under the same lock as the group."""

    id: str
    name: str
    owner: str
    members: tuple[str, ...]


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ITERATIONS)


def _new_id() -> str:
    return uuid.uuid4().hex


class Store:
    """Thread-safe enough for uvicorn: every method takes the lock, none awaits.

    Records are frozen dataclasses, replaced on change, so a caller can never observe or make
    a half-applied update.
    """

    def __init__(self, *, is_disk_full: Callable[[], bool]) -> None:
        self._is_disk_full = is_disk_full
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}
        self._user_ids_by_email: dict[str, str] = {}
        self._sessions: dict[str, str] = {}  # token -> user id
        self._shares: dict[str, Share] = {}
        self._groups: dict[str, Group] = {}

    def _write(self) -> None:
        """Call before changing stored data (with the lock held): a full disk refuses it."""
        if self._is_disk_full():
            raise DiskFullError

    # users -----------------------------------------------------------------------------------

    def seed_user(self, email: str, password: str) -> User:
        """Create the probe's account at start-up, even on a full disk: it was written before
        the disk filled up."""
        return self._add_user(email, password, check_disk=False)

    def create_user(self, email: str, password: str) -> User:
        return self._add_user(email, password, check_disk=True)

    def _add_user(self, email: str, password: str, *, check_disk: bool) -> User:
        salt = secrets.token_bytes(16)
        user = User(id=_new_id(), email=email, salt=salt, password_hash=_hash(password, salt))
        with self._lock:
            if email in self._user_ids_by_email:
                raise ConflictError("an account with this email already exists")
            if check_disk:
                self._write()
            self._users[user.id] = user
            self._user_ids_by_email[email] = user.id
        return user

    def delete_user(self, user_id: str) -> None:
        """Delete the account with its shares, sessions, owned groups and memberships."""
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                raise NotFoundError("no such account")
            self._write()
            del self._users[user_id]
            del self._user_ids_by_email[user.email]
            self._sessions = {t: u for t, u in self._sessions.items() if u != user_id}
            self._shares = {i: s for i, s in self._shares.items() if s.owner_id != user_id}
            self._groups = {
                i: replace(g, member_ids=tuple(m for m in g.member_ids if m != user_id))
                for i, g in self._groups.items()
                if g.owner_id != user_id
            }

    # sessions (memory only: no disk check) ---------------------------------------------------

    def login(self, email: str, password: str) -> str | None:
        """A new session token, or None when the email or password is wrong."""
        with self._lock:
            user = self._users.get(self._user_ids_by_email.get(email, ""))
        if user is None:
            # Hash anyway so an unknown email takes as long as a wrong password.
            _hash(password, b"\0" * 16)
            return None
        if not hmac.compare_digest(_hash(password, user.salt), user.password_hash):
            return None
        token = secrets.token_urlsafe(32)
        with self._lock:
            if user.id not in self._users:  # deleted while we were hashing
                return None
            self._sessions[token] = user.id
        return token

    def user_count(self) -> int:
        with self._lock:
            return len(self._users)

    def start_session(self, user_id: str) -> str:
        """A session for a user just proven (signup): no password check needed."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[token] = user_id
        return token

    def logout(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def user_for_token(self, token: str) -> User | None:
        with self._lock:
            user_id = self._sessions.get(token)
            return None if user_id is None else self._users.get(user_id)

    # shares ----------------------------------------------------------------------------------

    def list_shares(self, owner_id: str) -> list[Share]:
        with self._lock:
            return [s for s in self._shares.values() if s.owner_id == owner_id]

    def create_share(self, owner_id: str, *, name: str, recipients: tuple[str, ...]) -> Share:
        share = Share(id=_new_id(), owner_id=owner_id, name=name, recipients=recipients)
        with self._lock:
            self._write()
            self._shares[share.id] = share
        return share

    def delete_share(self, owner_id: str, share_id: str) -> None:
        with self._lock:
            share = self._shares.get(share_id)
            # Someone else's share is "not found", so ids cannot be probed for existence.
            if share is None or share.owner_id != owner_id:
                raise NotFoundError("no such share")
            self._write()
            del self._shares[share_id]

    # groups ----------------------------------------------------------------------------------

    def list_groups(self, member_id: str) -> list[GroupView]:
        with self._lock:
            return [self._view(g) for g in self._groups.values() if member_id in g.member_ids]

    def get_group(self, member_id: str, group_id: str) -> GroupView:
        with self._lock:
            return self._view(self._visible_group(member_id, group_id))

    def create_group(self, owner_id: str, *, name: str) -> GroupView:
        group = Group(id=_new_id(), name=name, owner_id=owner_id, member_ids=(owner_id,))
        with self._lock:
            self._write()
            self._groups[group.id] = group
            return self._view(group)

    def add_member(self, owner_id: str, group_id: str, *, email: str) -> GroupView:
        with self._lock:
            group = self._visible_group(owner_id, group_id)
            if group.owner_id != owner_id:
                raise ForbiddenError("only the group's owner can add members")
            new_id = self._user_ids_by_email.get(email)
            if new_id is None:
                raise NotFoundError("no account with this email")
            if new_id in group.member_ids:
                raise ConflictError("already a member of this group")
            self._write()
            group = replace(group, member_ids=(*group.member_ids, new_id))
            self._groups[group_id] = group
            return self._view(group)

    def _visible_group(self, member_id: str, group_id: str) -> Group:
        group = self._groups.get(group_id)
        if group is None or member_id not in group.member_ids:
            raise NotFoundError("no such group")
        return group

    def _view(self, group: Group) -> GroupView:
        return GroupView(
            id=group.id,
            name=group.name,
            owner=self._users[group.owner_id].email,
            members=tuple(self._users[m].email for m in group.member_ids),
        )
