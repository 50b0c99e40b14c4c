"""Shares: the sharing feature, one of the three flows that failed in the outage."""

from fastapi import APIRouter, Response, status

from demo_api.dependencies import CurrentSession, Demo
from demo_api.schemas import ShareCreate, ShareOut, SharesOut
from demo_api.store import Share

router = APIRouter(prefix="/api/v1/shares", tags=["shares"])


def _out(share: Share) -> ShareOut:
    return ShareOut(id=share.id, name=share.name, recipients=list(share.recipients))


@router.get("")
async def list_shares(session: CurrentSession, demo: Demo) -> SharesOut:
    return SharesOut(shares=[_out(s) for s in demo.store.list_shares(session.user.id)])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_share(body: ShareCreate, session: CurrentSession, demo: Demo) -> ShareOut:
    share = demo.store.create_share(
        session.user.id, name=body.name, recipients=tuple(body.recipients)
    )
    return _out(share)


@router.delete("/{share_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_share(share_id: str, session: CurrentSession, demo: Demo) -> Response:
    demo.store.delete_share(session.user.id, share_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
