"""The pages behind the links in login-change mails: a GET shows what the link will do and spends
nothing (mail scanners open links); the POST spends it; a used link says so and what to do."""

from __future__ import annotations

import re

from services.accounts import find_account_by_email
from services.email_change import request_email_change
from tests.conftest import make_account
from tests.web.conftest import Site, hidden


async def links_in_mails(site: Site, lang: str) -> tuple[str, str]:
    policy = site.app.settings.policy
    account = await make_account(site.app.database, policy, email="owner@shop.example")
    done = await request_email_change(
        sessions=site.app.database.sessions,
        policy=policy,
        mail=site.app.mail,
        licence=account.licence,
        new_email="new@shop.example",
        lang=lang,
        actor="test",
    )
    assert done.value.new_email_masked
    await site.app.mail.drain()
    bodies = "\n".join(m.get_content() for m in site.app.mail.mailer.messages())
    confirm = re.search(r"https?://\S+/confirm-email\?token=[\w-]+&lang=\w+", bodies).group(0)
    stop = re.search(r"https?://\S+/stop-email-change\?token=[\w-]+&lang=\w+", bodies).group(0)
    return confirm, stop


def local(link: str) -> str:
    return link[link.index("/", len("https://")) :].removeprefix("/sellerbot")


async def login_of(site: Site, email: str) -> bool:
    async with site.app.database.sessions() as session:
        return await find_account_by_email(session, email) is not None


async def test_a_get_spends_nothing_and_the_post_confirms_in_the_mails_language(site: Site) -> None:
    confirm, _ = await links_in_mails(site, "zh")
    async with site.client() as scanner:  # a mail scanner opens the link twice
        for _ in range(2):
            shown = await scanner.get(local(confirm))
            html = await shown.text()
            assert shown.status == 200 and "确认新邮箱" in html
            assert (
                shown.headers["Cache-Control"] == "no-store"
                and shown.headers["Referrer-Policy"] == "no-referrer"
            )
    assert await login_of(site, "owner@shop.example")  # unchanged
    async with site.client() as owner:
        page = await (await owner.get(local(confirm))).text()
        done = await owner.post(
            "/confirm-email",
            data={"form": hidden(page, "form"), "token": hidden(page, "token"), "lang": hidden(page, "lang")},
        )
        assert "new@shop.example 现在是您账户的登录邮箱" in await done.text()
        again = await owner.post(
            "/confirm-email",
            data={"form": hidden(page, "form"), "token": hidden(page, "token"), "lang": "zh"},
        )
        assert again.status == 410 and "该链接已失效" in await again.text()
    assert await login_of(site, "new@shop.example")


async def test_the_stop_link_undoes_a_confirmed_change_and_refuses_a_forged_form(site: Site) -> None:
    confirm, stop = await links_in_mails(site, "en")
    async with site.client() as someone:
        page = await (await someone.get(local(confirm))).text()
        await someone.post(
            "/confirm-email", data={"form": hidden(page, "form"), "token": hidden(page, "token")}
        )
    assert await login_of(site, "new@shop.example")
    async with site.client() as owner:
        page = await (await owner.get(local(stop))).text()
        assert "Stop the change" in page
        forged = await owner.post(
            "/stop-email-change", data={"form": "f" * 43, "token": hidden(page, "token")}
        )
        assert forged.status == 403 and await login_of(site, "new@shop.example")
        undone = await owner.post(
            "/stop-email-change",
            data={"form": hidden(page, "form"), "token": hidden(page, "token"), "lang": "en"},
        )
        assert "your login e-mail is owner@shop.example again" in await undone.text()
    assert await login_of(site, "owner@shop.example")


async def test_a_password_link_is_shown_then_spent_once(site: Site) -> None:
    from services import agents

    link = await agents.create_agent(
        sessions=site.app.database.sessions,
        email="li@support.example",
        name="Li Na",
        language="en",
        actor="t",
    )
    url = f"/desk/set-password?token={link.value.token}&lang=en"
    async with site.client() as client:
        page = await (await client.get(url)).text()
        assert "Choose a password for Li Na" in page
        data = {"form": hidden(page, "form"), "token": hidden(page, "token"), "lang": "en"}
        differ = await client.post(
            url.split("?")[0], data={**data, "password": "a" * 12, "password_again": "b" * 12}
        )
        assert "The two passwords are not the same." in await differ.text()
        done = await client.post(
            url.split("?")[0], data={**data, "password": "a" * 12, "password_again": "a" * 12}
        )
        assert "Your password is set." in await done.text()
        used = await client.get(url)
        assert used.status == 410 and "not valid any more" in await used.text()
