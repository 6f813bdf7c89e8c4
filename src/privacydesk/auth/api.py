"""The users and tokens API, under /api/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from privacydesk.auth import service
from privacydesk.auth.deps import CurrentPrincipal, protected_router, require
from privacydesk.auth.passwords import generate_password
from privacydesk.auth.permissions import Permission
from privacydesk.auth.principal import Principal
from privacydesk.auth.schemas import PrincipalOut, TokenCreate, TokenCreated, TokenOut, UserCreate, UserCreated, UserOut
from privacydesk.web.deps import DbSession

me_router = protected_router(tags=["auth"])
users_router = protected_router(Permission.USERS_READ, prefix="/users", tags=["users"])
tokens_router = protected_router(Permission.TOKENS_MANAGE, prefix="/tokens", tags=["tokens"])

ManageUsers = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
ManageTokens = Annotated[Principal, Depends(require(Permission.TOKENS_MANAGE))]


@me_router.get("/me")
def me(principal: CurrentPrincipal) -> PrincipalOut:
    """The caller and its effective permissions."""
    return PrincipalOut(
        actor=principal.actor,
        user_id=principal.user_id,
        email=principal.email,
        role=principal.role,
        permissions=sorted(principal.permissions),
        token_id=principal.token_id,
    )


@users_router.get("")
def list_users(session: DbSession) -> list[UserOut]:
    """Every admin user."""
    return [UserOut.model_validate(user) for user in service.list_users(session)]


@users_router.post("", status_code=201)
def create_user(body: UserCreate, session: DbSession, principal: ManageUsers) -> UserCreated:
    """Add an admin user."""
    if body.password is None:
        generated = password = generate_password()
    else:
        generated, password = None, body.password.get_secret_value()
    user = service.create_user(session, email=body.email, name=body.name, role=body.role, password=password, actor=principal.actor)
    return UserCreated.model_validate({**UserOut.model_validate(user).model_dump(), "generated_password": generated})


@users_router.post("/{user_id}/disable")
def disable_user(user_id: int, session: DbSession, principal: ManageUsers) -> UserOut:
    """Stop a user from signing in and end their sessions."""
    user = service.disable_user(session, service.get_user(session, user_id), actor=principal.actor)
    return UserOut.model_validate(user)


@tokens_router.get("")
def list_tokens(session: DbSession) -> list[TokenOut]:
    """Every API token (prefixes only)."""
    return [TokenOut.model_validate(token) for token in service.list_tokens(session)]


@tokens_router.post("", status_code=201)
def create_token(body: TokenCreate, session: DbSession, principal: ManageTokens) -> TokenCreated:
    """Issue a token for the caller's account; it is shown in this answer only."""
    token, secret = service.create_token(
        session,
        owner=service.get_user(session, principal.user_id),
        name=body.name,
        scopes=body.scopes,
        expires_days=body.expires_days,
        # A caller cannot hand out more than it holds, which for a token is its own scopes.
        grantable=principal.permissions,
        actor=principal.actor,
    )
    return TokenCreated.model_validate({**TokenOut.model_validate(token).model_dump(), "token": secret})


@tokens_router.post("/{token_id}/revoke")
def revoke_token(token_id: int, session: DbSession, principal: ManageTokens) -> TokenOut:
    """Revoke a token: it stops working at once."""
    return TokenOut.model_validate(service.revoke_token(session, token_id, actor=principal.actor))
