"""Request and response bodies of the API (its JSON contract)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from demo_api.values import Email, Password

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Body(BaseModel):
    # Unknown fields are ignored, as most real APIs do; probes may send extras.
    model_config = ConfigDict(extra="ignore")


class SignupRequest(_Body):
    email: Email
    password: Password


class LoginRequest(_Body):
    # Not validated like signup: a malformed email or short password is simply wrong (401),
    # the login probe must not be able to tell "invalid" from "wrong".
    email: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=254)]
    password: Annotated[str, StringConstraints(max_length=128)]


class UserOut(BaseModel):
    id: str
    email: str


class SignupOut(UserOut):
    token: str


class TokenOut(BaseModel):
    token: str


class ShareCreate(_Body):
    name: Name
    recipients: list[Email] = Field(default_factory=list, max_length=50)


class ShareOut(BaseModel):
    id: str
    name: str
    recipients: list[str]


class SharesOut(BaseModel):
    shares: list[ShareOut]


class GroupCreate(_Body):
    name: Name


class MemberAdd(_Body):
    email: Email


class GroupOut(BaseModel):
    id: str
    name: str
    owner: str
    members: list[str]


class GroupsOut(BaseModel):
    groups: list[GroupOut]


class Health(BaseModel):
    status: str
