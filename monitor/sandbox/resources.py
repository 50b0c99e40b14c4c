"""The JSON of Twilio's Message and Call resources, as `api.py` answers them."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime

from monitor.sandbox.state import Call, Message

API_VERSION = "2010-04-01"


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format, e.g. `Sat, 28 Nov 2026 13:00:00 +0000`."""
    return None if moment is None else format_datetime(moment.replace(microsecond=0))


def message_resource(message: Message, *, account_sid: str) -> dict[str, object]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message.sid}"
    return {
        "sid": message.sid,
        "account_sid": account_sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": message.status,
        "direction": message.direction,
        "date_created": rfc2822(message.created_at),
        "date_updated": rfc2822(message.updated_at),
        "date_sent": rfc2822(message.sent_at),
        "num_segments": "1",
        "num_media": "0",
        "error_code": message.error_code,
        "error_message": message.error_message,
        "price": None,
        "price_unit": "USD",
        "api_version": API_VERSION,
        "messaging_service_sid": message.messaging_service_sid,
        "uri": f"{uri}.json",
        "subresource_uris": {},
    }


def call_resource(call: Call, *, account_sid: str) -> dict[str, object]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call.sid}"
    return {
        "sid": call.sid,
        "account_sid": account_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_,
        "from_formatted": call.from_,
        "status": call.status,
        "direction": "outbound-api",
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        # Twilio reports the duration in whole seconds, as a string, once the call is over.
        "duration": None if call.duration is None else str(call.duration),
        "answered_by": call.answered_by,
        "price": None,
        "price_unit": "USD",
        "api_version": API_VERSION,
        "parent_call_sid": None,
        "caller_name": None,
        "forwarded_from": None,
        "group_sid": None,
        "queue_time": "0",
        "trunk_sid": None,
        "annotation": None,
        "uri": f"{uri}.json",
        "subresource_uris": {},
    }
