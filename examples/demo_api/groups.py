"""Groups a user shares with; the caller sees only groups they belong to."""

from fastapi import APIRouter, status

from demo_api.dependencies import CurrentSession, Demo
from demo_api.schemas import GroupCreate, GroupOut, GroupsOut, MemberAdd
from demo_api.store import GroupView

router = APIRouter(prefix="/api/v1/groups", tags=["groups"])


def _out(group: GroupView) -> GroupOut:
    return GroupOut(id=group.id, name=group.name, owner=group.owner, members=list(group.members))


@router.get("")
async def list_groups(session: CurrentSession, demo: Demo) -> GroupsOut:
    return GroupsOut(groups=[_out(g) for g in demo.store.list_groups(session.user.id)])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_group(body: GroupCreate, session: CurrentSession, demo: Demo) -> GroupOut:
    return _out(demo.store.create_group(session.user.id, name=body.name))


@router.get("/{group_id}")
async def get_group(group_id: str, session: CurrentSession, demo: Demo) -> GroupOut:
    return _out(demo.store.get_group(session.user.id, group_id))


@router.post("/{group_id}/members", status_code=status.HTTP_201_CREATED)
async def add_member(
    group_id: str, body: MemberAdd, session: CurrentSession, demo: Demo
) -> GroupOut:
    return _out(demo.store.add_member(session.user.id, group_id, email=body.email))
