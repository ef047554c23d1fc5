"""How the core's replies look on QQ, and how the official API's events read."""

from __future__ import annotations

from bot.qq.official.events import parse
from bot.qq.render import OutFile, OutText, Renderer, defang_links, plain_links
from handlers import replies
from handlers.types import Button, ButtonKind, InboundFile, Reply


def renderer(**kw: object) -> Renderer:
    def private_chat(button: Button, lang: str, bot_id: str) -> str:
        return f"[private: {button.label} /start {button.id} via {bot_id}]"

    return Renderer(**{"max_chars": 1500, "private_chat": private_chat, **kw})  # type: ignore[arg-type]


def test_a_turns_replies_go_as_one_message_with_choices_numbered_across_them() -> None:
    turn = [
        Reply("第一段回答", buttons=(Button("a1", "开设店铺"),)),
        Reply("请选择:", buttons=(Button("b1", "店铺数量"), Button("b2", "商品数量"))),
    ]
    [out] = renderer().replies(turn, group=False)
    assert isinstance(out, OutText)
    assert out.text == "\n\n".join(
        [
            "第一段回答\n1. 开设店铺",
            "请选择:\n2. 店铺数量\n3. 商品数量",
            replies.say("channel.qq.choose_private", "zh"),
        ]
    )
    [group] = renderer().replies(turn, group=True)
    assert group.text.endswith(replies.say("channel.qq.choose_group", "zh"))


def test_a_private_chat_button_says_how_to_get_there_and_is_not_numbered() -> None:
    turn = [Reply("For your privacy…", buttons=(Button("stores-en", "My stores", ButtonKind.PRIVATE_CHAT),))]
    [out] = renderer().replies(turn, group=True, bot_id="10001")
    assert out.text == "For your privacy…\n[private: My stores /start stores-en via 10001]"


def test_files_go_in_place_and_long_text_is_cut_at_paragraphs() -> None:
    picture = InboundFile("icon.png", b"\x89PNG", "image/png")
    outs = renderer(max_chars=100).replies(
        [Reply("a" * 60 + "\n\n" + "b" * 60, files=(picture,)), Reply("after")], group=False
    )
    assert [type(o) for o in outs] == [OutText, OutText, OutFile, OutText]
    assert [o.text for o in outs if isinstance(o, OutText)] == ["a" * 60, "b" * 60, "after"]


def test_with_keyboards_the_choices_are_buttons_not_lines() -> None:
    [out] = renderer(keyboards=True).replies([Reply("Pick:", buttons=(Button("x", "One"),))], group=False)
    assert out.text == "Pick:" and [b.label for b in out.keyboard] == ["One"]


def test_links_are_written_without_their_scheme_and_defanged_when_refused() -> None:
    text = "注册:https://merchant.joom.com/register?x=1 或 http://a.example.cn。"
    assert plain_links(text) == "注册:merchant.joom.com/register?x=1 或 a.example.cn。"
    assert defang_links(text) == "注册:merchant．joom．com/register?x=1 或 a．example．cn。"
    [out] = renderer().replies([Reply(text)], group=False)
    assert "https://" not in out.text
    [kept] = renderer(links="allowed").replies([Reply(text)], group=False)
    assert "https://merchant.joom.com" in kept.text


def test_official_events_read_as_messages() -> None:
    group = parse(
        "GROUP_AT_MESSAGE_CREATE",
        {
            "author": {"member_openid": "E4F4"},
            "content": " 123",
            "group_openid": "C9F7",
            "id": "ROBOT1.0_x",
            "timestamp": "2023-11-06T13:37:18+08:00",
            "attachments": [
                {
                    "content_type": "image/png",
                    "filename": "a.png",
                    "size": "10",
                    "url": "multimedia.nt.qq.com/a",
                },
                {"content_type": "voice", "url": "https://x/v"},
            ],
        },
    )
    assert group is not None
    assert (group.kind, group.chat, group.user, group.text, group.addressed) == (
        "group",
        "C9F7",
        "E4F4",
        "123",
        True,
    )
    assert group.images[0].url == "https://multimedia.nt.qq.com/a" and group.unsupported
    assert group.sent_at == 1699249038.0
    private = parse("C2C_MESSAGE_CREATE", {"author": {"user_openid": "U1"}, "content": "hi", "id": "m1"})
    assert private is not None and (private.kind, private.chat, private.user) == ("private", "U1", "U1")
    everyone = parse(
        "GROUP_MESSAGE_CREATE",
        {"author": {"member_openid": "E"}, "content": "聊天", "group_openid": "G", "id": "m2"},
    )
    assert everyone is not None and not everyone.addressed
    assert parse("GROUP_ADD_ROBOT", {"group_openid": "G"}) is None
    assert parse("C2C_MESSAGE_CREATE", {"content": "no author"}) is None
