"""The organisation's operators, as its full administrators manage them: who may sign in
to the console, with which role; a new password; removal."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idsync.api.operators import Principal
from idsync.console.pages import Console, notice
from idsync.errors.catalogue import OPERATOR_INVALID, OPERATOR_NOT_FOUND, IdsyncError
from idsync.manage import operators
from idsync.manage.operators import OperatorRecord


async def team_page(
    c: Console, request: Request, who: Principal, status: int = 200, **extra: object
) -> Response:
    context = await c.org_context(who, request.path_params["org"])
    listed = await c.call(operators.list_operators, c.db, context["org"].id)
    return c.render(
        request, "team.html", who, status, title="Operators", operators=listed,
        roles=operators.ROLES, min_length=operators.MIN_PASSWORD_LENGTH, **extra, **context,
    )  # fmt: skip


async def change(c: Console, request: Request, who: Principal) -> Response:
    """Create, remove or set a new password, by the form's ``do``."""
    org_id = request.path_params["org"]
    who.authorize(operators.OPERATORS, org_id)
    form = await request.form()
    do = str(form.get("do") or "")
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "") or None
    try:
        if do == "create":
            role = str(form.get("role") or "readonly")
            await c.call(
                operators.create_operator, c.db, email, password, role, org_id, actor=who.actor
            )
        else:
            target = await _operator_of(c, org_id, email)
            if target.id == who.operator.id:
                raise IdsyncError(
                    OPERATOR_INVALID,
                    reason="you cannot remove or reset yourself here",
                    min_length=operators.MIN_PASSWORD_LENGTH,
                )
            if do == "remove":
                await c.call(operators.remove_operator, c.db, email, actor=who.actor)
            elif do == "reset-password" and password:
                await c.call(operators.reset_password, c.db, email, password, actor=who.actor)
    except IdsyncError as exc:
        return await team_page(c, request, who, exc.error.status, error=notice(request, exc))
    return RedirectResponse(f"/admin/orgs/{org_id}/operators", status_code=303)


async def _operator_of(c: Console, org_id: str, email: str) -> OperatorRecord:
    """An operator of this organisation (another org's, or an instance-wide one, is not
    found: an org's administrators manage their own)."""
    record: OperatorRecord = await c.call(operators.get_operator, c.db, email)
    if record.org_id != org_id:
        raise IdsyncError(OPERATOR_NOT_FOUND, email=email)
    return record
