"""`sellerbot admin …`: the operator's commands, for support staff and scripts.

Every command goes through the same services as the bot, so the platform's rules hold here too.
Bad input prints the problem on stderr (the English explanation of each failed rule) and exits 2
having changed nothing; inputs that can be checked without the database are checked before it
is opened, so a mistyped first command does not even create the database. Each refusal is kept
in the audit log, like every action.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import click

from bot.commands.shared import (
    BadInput,
    explained,
    fail,
    print_json,
    run_on_database,
    value_or_fail,
    with_settings,
)
from bot.config import Settings
from services.accounts import (
    AccountView,
    account_view,
    create_account,
    find_account_by_email,
    new_account_violations,
    update_account,
)
from services.db import Database
from services.explain import explain
from services.linking import chat_identity_violations, chat_links, link_by_operator
from services.models import AccountState, KycStatus, PayoutStatus, Rating, RequestStatus, Specialization
from services.policy import Policy
from services.quota import approve_request, list_requests, reject_request
from services.results import Refused, Violation
from services.stores import import_store, list_stores, parse_specialization, title_violations

OPERATOR = "operator:cli"
STATES = [s.value for s in AccountState]
KYC = [s.value for s in KycStatus]
PAYOUT = [s.value for s in PayoutStatus]
RATINGS = [r.value for r in Rating]
SPECIALIZATIONS = [*(s.value for s in Specialization), "none"]


def refuse_input(violations: list[Violation] | tuple[Violation, ...], policy: Policy) -> NoReturn:
    """Exit 2 with one English explanation per failed rule."""
    fail(explained(violations, policy))


async def account_id_for(db: Database, email: str) -> int:
    async with db.sessions() as session:
        account = await find_account_by_email(session, email)
    if account is None:
        raise BadInput(f"no account with the e-mail {email}")
    return account.id


def describe_account(view: AccountView, links: list[Any], policy: Policy) -> str:
    lines = [
        f"account {view.id}: {view.email} — {view.company} ({view.country})",
        f"  licence {view.licence}",
        f"  state {view.state.value}, KYC {view.kyc.value}, payout {view.payout.value},"
        f" rating {view.rating.value}",
        f"  stores {view.stores} of {view.store_limit}, listings per store up to {view.listing_limit}",
    ]
    if view.open_requests:
        for request in view.open_requests:
            lines.append(
                f"  open request {request.id}: {request.kind.value}"
                f" since {request.requested_at:%Y-%m-%d %H:%M} UTC"
            )
    else:
        lines.append("  no open requests")
    if view.increase_blockers:
        lines.append("  a quota or capacity request would be refused:")
        lines += [f"    - {explain(v, 'en', policy=policy)}" for v in view.increase_blockers]
    else:
        lines.append("  eligible for more stores and listing capacity")
    for link in links:
        lines.append(
            f"  linked chat user {link.channel}:{link.chat_user_id} (verified by {link.verified_by.value})"
        )
    return "\n".join(lines)


@click.group("admin")
def admin() -> None:
    """Operator commands: accounts, stores, requests, chat links."""


# --- accounts -----------------------------------------------------------------------------------


@admin.group("account")
def account() -> None:
    """Merchant accounts."""


@account.command("create")
@click.option("--email", required=True, help="Login e-mail (unique, case-insensitive).")
@click.option("--company", required=True, help="Company name.")
@click.option(
    "--license", "--licence", "licence", required=True, help="Unified Social Credit Code (18 characters)."
)
@click.option("--country", default="CN", show_default=True, help="Company country (only CN is accepted).")
@click.option("--state", type=click.Choice(STATES), default="active", show_default=True)
@click.option(
    "--rating", type=click.Choice(RATINGS), default="unknown", show_default=True, help="Seller rating."
)
@click.option("--kyc", type=click.Choice(KYC), default="not_submitted", show_default=True)
@click.option("--payout", type=click.Choice(PAYOUT), default="unbound", show_default=True)
@click.option("--store-limit", type=int, default=None, help="Stores allowed (default: policy store_limit).")
@click.option("--listing-limit", type=int, default=None, help="Listings per store (default: policy).")
@click.option("--json", "as_json", is_flag=True, help="Print the new account as JSON.")
@with_settings
def account_create(
    settings: Settings,
    email: str,
    company: str,
    licence: str,
    country: str,
    state: str,
    rating: str,
    kyc: str,
    payout: str,
    store_limit: int | None,
    listing_limit: int | None,
    as_json: bool,
) -> None:
    """Create a merchant account."""
    policy = settings.policy
    problems = new_account_violations(
        email=email,
        company=company,
        licence=licence,
        country=country,
        store_limit=store_limit,
        listing_limit=listing_limit,
        policy=policy,
    )
    if problems:
        refuse_input(problems, policy)

    async def work(db: Database) -> AccountView:
        result = await create_account(
            sessions=db.sessions,
            policy=policy,
            email=email,
            company=company,
            licence=licence,
            country=country,
            state=AccountState(state),
            kyc=KycStatus(kyc),
            payout=PayoutStatus(payout),
            rating=Rating(rating),
            store_limit=store_limit,
            listing_limit=listing_limit,
            actor=OPERATOR,
        )
        return value_or_fail(result, policy)

    view = run_on_database(settings, work, needs_existing=False)
    if as_json:
        print_json(view.as_json())
    else:
        click.echo(
            f"created account {view.id}: {view.email} ({view.company}), store limit {view.store_limit}"
        )


@account.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_settings
def account_show(settings: Settings, email: str, as_json: bool) -> None:
    """Show an account: limits, ratings, open requests, eligibility, chat links."""
    policy = settings.policy

    async def work(db: Database) -> tuple[AccountView, list[Any]]:
        async with db.sessions() as session:
            found = await find_account_by_email(session, email)
            if found is None:
                raise BadInput(f"no account with the e-mail {email}")
            return await account_view(session, found, policy=policy), await chat_links(
                session, account_id=found.id
            )

    view, links = run_on_database(settings, work)
    if as_json:
        data = view.as_json()
        data["chat_links"] = [
            {"channel": link.channel, "user": link.chat_user_id, "verified_by": link.verified_by.value}
            for link in links
        ]
        print_json(data)
    else:
        click.echo(describe_account(view, links, policy))


@account.command("update")
@click.argument("email")
@click.option("--state", type=click.Choice(STATES), default=None)
@click.option("--rating", type=click.Choice(RATINGS), default=None, help="Seller rating.")
@click.option("--kyc", type=click.Choice(KYC), default=None)
@click.option("--payout", type=click.Choice(PAYOUT), default=None)
@click.option("--store-limit", type=int, default=None)
@click.option("--listing-limit", type=int, default=None)
@with_settings
def account_update(
    settings: Settings,
    email: str,
    state: str | None,
    rating: str | None,
    kyc: str | None,
    payout: str | None,
    store_limit: int | None,
    listing_limit: int | None,
) -> None:
    """Record what changed on the platform: state, KYC, payout, seller rating or limits."""
    policy = settings.policy
    if all(v is None for v in (state, rating, kyc, payout, store_limit, listing_limit)):
        fail(
            "nothing to change: give at least one of"
            " --state, --rating, --kyc, --payout, --store-limit, --listing-limit"
        )

    async def work(db: Database) -> AccountView:
        result = await update_account(
            sessions=db.sessions,
            policy=policy,
            account_id=await account_id_for(db, email),
            state=AccountState(state) if state else None,
            kyc=KycStatus(kyc) if kyc else None,
            payout=PayoutStatus(payout) if payout else None,
            rating=Rating(rating) if rating else None,
            store_limit=store_limit,
            listing_limit=listing_limit,
            actor=OPERATOR,
        )
        return value_or_fail(result, policy)

    view = run_on_database(settings, work)
    click.echo(
        f"updated account {view.id}: state {view.state.value}, KYC {view.kyc.value},"
        f" payout {view.payout.value}, "
        f"rating {view.rating.value}, store limit {view.store_limit}, listing limit {view.listing_limit}"
    )


# --- stores -------------------------------------------------------------------------------------


@admin.group("store")
def store() -> None:
    """Stores of an account."""


@store.command("create")
@click.option("--account", "email", required=True, help="The account's login e-mail.")
@click.option("--title", required=True)
@click.option("--specialization", type=click.Choice(SPECIALIZATIONS), default="other", show_default=True)
@click.option(
    "--rating", type=click.Choice(RATINGS), default="unknown", show_default=True, help="Store rating."
)
@click.option(
    "--banned-days-ago", type=click.IntRange(min=0), default=None, help="The store was banned N days ago."
)
@click.option("--listings", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the new store as JSON.")
@with_settings
def store_create(
    settings: Settings,
    email: str,
    title: str,
    specialization: str,
    rating: str,
    banned_days_ago: int | None,
    listings: int,
    as_json: bool,
) -> None:
    """Record a store that exists on the platform (its title follows the title rules; the store
    limit and account state are not checked, the platform already decided)."""
    policy = settings.policy
    problems = title_violations(title, existing_titles=(), policy=policy)
    if problems:
        refuse_input(problems, policy)
    now = datetime.now(UTC)

    async def work(db: Database) -> Any:
        result = await import_store(
            sessions=db.sessions,
            policy=policy,
            account_id=await account_id_for(db, email),
            title=title,
            specialization=None if specialization == "none" else parse_specialization(specialization),
            rating=Rating(rating),
            banned_at=None if banned_days_ago is None else now - timedelta(days=banned_days_ago),
            listings=listings,
            actor=OPERATOR,
            now=now,
        )
        return value_or_fail(result, policy)

    created = run_on_database(settings, work)
    if as_json:
        print_json(created.as_json())
    else:
        click.echo(f"created store {created.id}: {created.title} for {email}")


@store.command("list")
@click.option("--account", "email", required=True, help="The account's login e-mail.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_settings
def store_list(settings: Settings, email: str, as_json: bool) -> None:
    """List an account's stores."""

    async def work(db: Database) -> list[Any]:
        account_id = await account_id_for(db, email)
        async with db.sessions() as session:
            return await list_stores(session, account_id=account_id)

    stores = run_on_database(settings, work)
    if as_json:
        print_json([s.as_json() for s in stores])
        return
    if not stores:
        click.echo(f"{email} has no stores")
    for s in stores:
        status = "enabled" if s.enabled else "closed"
        banned = f", banned {s.banned_at:%Y-%m-%d}" if s.banned_at else ""
        spec = s.specialization.value if s.specialization else "no specialization"
        selling = "can sell" if s.can_sell else "cannot sell: " + ", ".join(s.selling_blockers)
        click.echo(
            f"{s.id}\t{s.title}\t{spec}\trating {s.rating.value}\t{status}{banned}"
            f"\t{s.listings} listings\t{selling}"
        )


# --- chat links ---------------------------------------------------------------------------------


@admin.command("link")
@click.option("--account", "email", required=True, help="The account's login e-mail.")
@click.option("--channel", required=True, help="Chat channel, e.g. telegram, qq, console.")
@click.option("--user", "user_id", required=True, help="The chat user's id on that channel.")
@with_settings
def link(settings: Settings, email: str, channel: str, user_id: str) -> None:
    """Link a chat user to an account (verified by the operator)."""
    policy = settings.policy
    problems = chat_identity_violations(channel, user_id)
    if problems:
        refuse_input(problems, policy)

    async def work(db: Database) -> Any:
        result = await link_by_operator(
            sessions=db.sessions,
            account_id=await account_id_for(db, email),
            channel=channel,
            chat_user_id=user_id,
            actor=OPERATOR,
        )
        return value_or_fail(result, policy)

    linked = run_on_database(settings, work)
    click.echo(f"linked {linked.channel}:{linked.chat_user_id} to {email} (verified by operator)")


# --- quota and capacity requests --------------------------------------------------------------------


@admin.group("request")
def request() -> None:
    """Store-quota and listing-capacity requests (for agents when auto_approve is off)."""


@request.command("list")
@click.option("--account", "email", default=None, help="Only this account's requests.")
@click.option(
    "--status", type=click.Choice([s.value for s in RequestStatus]), default="open", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_settings
def request_list(settings: Settings, email: str | None, status: str, as_json: bool) -> None:
    """List requests (open ones by default)."""

    async def work(db: Database) -> list[Any]:
        account_id = await account_id_for(db, email) if email else None
        async with db.sessions() as session:
            return await list_requests(session, account_id=account_id, status=RequestStatus(status))

    requests = run_on_database(settings, work)
    if as_json:
        print_json([{**r.as_json(), "account_id": r.account_id} for r in requests])
        return
    if not requests:
        click.echo(f"no {status} requests")
    for r in requests:
        click.echo(
            f"{r.id}\taccount {r.account_id}\t{r.kind.value}\t{r.status.value}"
            f"\t{r.requested_at:%Y-%m-%d %H:%M}"
        )


@request.command("approve")
@click.argument("request_id", type=int)
@click.option("--agent", default="cli", show_default=True, help="Who decides (recorded).")
@with_settings
def request_approve(settings: Settings, request_id: int, agent: str) -> None:
    """Approve an open request (the conditions are checked again)."""

    async def work(db: Database) -> Any:
        result = await approve_request(
            sessions=db.sessions, policy=settings.policy, request_id=request_id, agent=f"agent:{agent}"
        )
        return value_or_fail(result, settings.policy)

    decided = run_on_database(settings, work)
    click.echo(
        f"approved request {decided.id} ({decided.kind.value}):"
        f" limit {decided.limit_before} -> {decided.limit_after}"
    )


@request.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why (shown to the seller).")
@click.option("--agent", default="cli", show_default=True, help="Who decides (recorded).")
@with_settings
def request_reject(settings: Settings, request_id: int, reason: str, agent: str) -> None:
    """Reject an open request, with a reason."""
    if not reason.strip():
        fail("give a reason for the rejection")

    async def work(db: Database) -> Any:
        result = await reject_request(
            sessions=db.sessions,
            policy=settings.policy,
            request_id=request_id,
            agent=f"agent:{agent}",
            reason=reason,
        )
        return value_or_fail(result, settings.policy)

    decided = run_on_database(settings, work)
    click.echo(f"rejected request {decided.id} ({decided.kind.value})")


# -- agents of the web desk ---------------------------------------------------------------------
@admin.group("agent")
def agent() -> None:
    """Agents of the web desk (`sellerbot serve`)."""


def _password_link(settings: Settings, token: str, lang: str) -> str:
    from services.agents import SET_PASSWORD_PAGE

    base = settings.web.public_base_url.rstrip("/")
    return f"{base}/{SET_PASSWORD_PAGE}?token={token}&lang={lang}"


def _deliver_link(settings: Settings, link: Any, *, print_link: bool) -> None:
    """Print the set-password link, or mail it to the agent through the configured mailer."""
    from services.agents import PASSWORD_LINK_HOURS
    from services.mail import build_mailer, compose

    url = _password_link(settings, link.token, link.agent.language)
    if print_link:
        click.echo(url)
        return
    mail = compose(
        "agent_password",
        link.agent.language,
        to=link.agent.email,
        name=link.agent.name,
        link=url,
        hours=PASSWORD_LINK_HOURS,
        desk=f"{settings.web.public_base_url.rstrip('/')}/desk",
    )
    asyncio.run(build_mailer(settings.mail, outbox=settings.outbox_path).send(mail))
    click.echo(f"the link to set a password was mailed to {link.agent.email}")


@agent.command("create")
@with_settings
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["agent", "lead"]), default="agent", show_default=True)
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="The desk's language."
)
@click.option("--print-link", is_flag=True, help="Print the set-password link instead of mailing it.")
def agent_create(settings: Settings, email: str, name: str, role: str, lang: str, print_link: bool) -> None:
    """Create an agent; they set their password through a one-time link."""
    from services.agents import create_agent
    from services.models import AgentRole

    async def work(db: Database) -> Any:
        return await create_agent(
            sessions=db.sessions, email=email, name=name, role=AgentRole(role), language=lang, actor=OPERATOR
        )

    result = run_on_database(settings, work, needs_existing=False)
    if isinstance(result, Refused):
        refuse_input(result.violations, settings.policy)
    click.echo(f"agent {result.value.agent.id}: {result.value.agent.email} ({role})", err=print_link)
    _deliver_link(settings, result.value, print_link=print_link)


@agent.command("password-link")
@with_settings
@click.argument("email")
@click.option("--print-link", is_flag=True, help="Print the link instead of mailing it.")
def agent_password_link(settings: Settings, email: str, print_link: bool) -> None:
    """A new set-password link for an agent (earlier links stop working)."""
    from services.agents import new_password_link

    async def work(db: Database) -> Any:
        return await new_password_link(sessions=db.sessions, email=email, actor=OPERATOR)

    result = run_on_database(settings, work)
    if isinstance(result, Refused):
        refuse_input(result.violations, settings.policy)
    _deliver_link(settings, result.value, print_link=print_link)


@agent.command("disable")
@with_settings
@click.argument("email")
def agent_disable(settings: Settings, email: str) -> None:
    """The agent can no longer sign in; their sessions end at once."""
    from services.agents import disable_agent

    async def work(db: Database) -> Any:
        return await disable_agent(sessions=db.sessions, email=email, actor=OPERATOR)

    result = run_on_database(settings, work)
    if isinstance(result, Refused):
        refuse_input(result.violations, settings.policy)
    click.echo(f"agent {result.value.email} disabled")
