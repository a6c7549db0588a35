"""Server-side conversations (AI Power 2.3+) under overlap, failure and long histories: a
conversation is continued by one call at a time and by one caller, never again after a
message may have been logged without its answer, and always shows the model the system text.

The overlap tests use a raw-socket site whose stream requests wait at a barrier until every
call has sent its own, so the calls certainly overlap; each server conversation's messages
are then checked one by one."""

import itertools
import json
import threading
from typing import Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
from rawserver import Connection, RawServer, Request, json_response, response

from chatgpt_providers import AIPKit, AuthenticationError, NetworkError, ServerError
from chatgpt_providers.core.results import Reply
from chatgpt_providers.testing import LocalSite

NONCE = "054d4dd8dd"
FRESH = "9f8e7d6c5b"


class KitSite:
    """A raw-socket AI Power 2.3+ site that logs each conversation's messages as the plugin
    does (the user message before the model runs, the answer only when it is complete).

    ``gate``: a barrier every stream request waits at before answering. ``fail``: how to
    fail the next stream requests (``"hang up"``: close once the request arrived; ``"504"``).
    ``cache_refusals``: cache POSTs to answer 403 text/html, as a page cache or WAF does.
    """

    def __init__(self) -> None:
        self.cached: Dict[str, str] = {}
        self.keys = itertools.count()
        self.logged: Dict[str, List[str]] = {}  # conversation_uuid -> messages, in order
        self.gate: Optional[threading.Barrier] = None
        self.fail: List[str] = []
        self.cache_refusals = 0
        self.nonce = NONCE
        self.lock = threading.Lock()
        self.server = RawServer(self.script)
        self.url = self.server.url

    def page(self) -> bytes:
        return (f'<div class="aipkit_chat_container" data-bot-id="5" data-config=\'{{&quot;botId'
                f'&quot;:5,&quot;ajaxUrl&quot;:&quot;{self.url}/wp-admin/admin-ajax.php&quot;,'
                f'&quot;nonce&quot;:&quot;{self.nonce}&quot;,&quot;postId&quot;:0}}\'></div>').encode()

    def script(self, request: Request, conn: Connection) -> None:
        if request.method == "GET" and request.path == "/":
            conn.send(response(body=self.page()))
        elif request.method == "POST" and request.form.get("action") == "aipkit_get_frontend_chat_nonce":
            self.nonce = FRESH
            conn.send(json_response({"success": True, "data": {"nonce": FRESH}}))
        elif request.method == "POST":
            form = request.form
            with self.lock:
                refuse = self.cache_refusals > 0 or form.get("_ajax_nonce") != self.nonce
                self.cache_refusals -= 1 if self.cache_refusals > 0 else 0
            if refuse:
                conn.send(response("403 Forbidden", b"<p>The link you followed has expired.</p>"))
                return
            with self.lock:
                key = f"aipkit_sse_{next(self.keys):032d}"
                self.cached[key] = form["message"]
            conn.send(json_response({"success": True, "data": {"cache_key": key}}))
        else:
            self.stream(request, conn)

    def stream(self, request: Request, conn: Connection) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.path).query).items()}
        conversation = query["conversation_uuid"]
        with self.lock:
            message = self.cached.pop(query["cache_key"])
            thread = self.logged.setdefault(conversation, [])
            thread.append(message)  # logged before the model runs
            earlier = len(thread) - 1
            failure = self.fail.pop(0) if self.fail else None
        if self.gate is not None:
            self.gate.wait(timeout=20)
        if failure == "hang up":
            conn.close()
            return
        if failure == "504":
            conn.send(response("504 Gateway Timeout", b"upstream timed out"))
            return
        answer = f"Answer to {message!r} after {earlier} logged"
        with self.lock:
            thread.append(answer)
        body = (b"data: %s\n\nevent: done\ndata: {\"finished\":true}\n\n"
                % json.dumps({"delta": answer}).encode())
        conn.send(response(body=body, content_type="text/event-stream; charset=UTF-8",
                           headers={"Cache-Control": "no-cache"}))

    def conversations(self) -> List[List[str]]:
        return list(self.logged.values())

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def kit_site():
    site = KitSite()
    yield site
    site.close()


def earlier_turns(bot: AIPKit) -> List[Dict[str, str]]:
    first = "Summarise our account history"
    answer = bot.complete(first)
    return [{"role": "user", "content": first}, {"role": "assistant", "content": answer}]


def in_threads(count: int, call) -> List[object]:
    results: List[object] = [None] * count
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait(timeout=20)
        try:
            results[index] = call(index)
        except Exception as exc:  # noqa: BLE001 - asserted by the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


# -- 1. one call at a time ---------------------------------------------------------------

def test_overlapping_calls_never_share_a_server_conversation(kit_site):
    bot = AIPKit(kit_site.url)
    history = earlier_turns(bot)
    kit_site.gate = threading.Barrier(4)  # every stream waits until all four were sent
    results = in_threads(4, lambda i: bot.complete(history + [{"role": "user", "content": f"follow-up {i}"}]))
    assert all(isinstance(r, str) for r in results), results
    conversations = kit_site.conversations()
    assert len(conversations) == 4
    original, *others = conversations
    # the original conversation got one follow-up, alone after its first turn
    assert original[:2] == ["Summarise our account history", history[1]["content"]]
    assert len(original) == 4 and original[2].startswith("follow-up ")
    # the three others each started afresh, the earlier turns folded into their one message
    for messages in others:
        assert len(messages) == 2
        assert messages[0].startswith("User: Summarise our account history\nAssistant: ")
        assert messages[0].count("follow-up") == 1
    asked = sorted(m[2] if m is original else m[0].rsplit("User: ", 1)[1] for m in conversations)
    assert asked == [f"follow-up {i}" for i in range(4)]


def test_batch_workers_never_share_a_server_conversation(kit_site):
    bot = AIPKit(kit_site.url)
    history = earlier_turns(bot)
    kit_site.gate = threading.Barrier(3)
    answers = bot.batch([history + [{"role": "user", "content": f"q{i}"}] for i in range(3)], workers=3)
    assert all(isinstance(a, str) for a in answers), answers
    assert len(kit_site.conversations()) == 3
    assert sorted(len(m) for m in kit_site.conversations()) == [2, 2, 4]


def test_callers_never_continue_each_others_conversations(kit_site):
    bot = AIPKit(kit_site.url)
    first = [{"role": "user", "content": "My name is Bob"}]
    alice_reply = Reply(caller="alice")
    answer = "".join(bot.stream(first, reply=alice_reply))
    same_history = first + [{"role": "assistant", "content": answer},
                            {"role": "user", "content": "my card number is 4111-1111"}]
    # another caller with the very same history starts its own conversation
    "".join(bot.stream(same_history, reply=Reply(caller="mallory")))
    # the first caller continues its own
    "".join(bot.stream(same_history[:2] + [{"role": "user", "content": "What is my name?"}],
                       reply=Reply(caller="alice")))
    alice, mallory = kit_site.conversations()
    assert alice == ["My name is Bob", answer, "What is my name?", alice[3]]
    assert len(mallory) == 2 and "4111" in mallory[0] and "What is my name" not in " ".join(mallory)


# -- 2. a message that may have been logged is never continued ----------------------------

@pytest.mark.parametrize("failure", ["hang up", "504"])
def test_a_failed_stream_step_is_not_retried_and_its_conversation_is_left(kit_site, failure):
    chat = AIPKit(kit_site.url, retries=3).conversation()
    chat.ask("My name is Bob")
    kit_site.fail = [failure]
    with pytest.raises((NetworkError, ServerError)) as info:
        chat.ask("transfer $100 to Alice")
    assert info.value.partial_text == ""
    assert kit_site.conversations() == [["My name is Bob", kit_site.conversations()[0][1],
                                         "transfer $100 to Alice"]]  # sent once, not retried
    # the caller tries again: a new conversation, with the earlier turns folded in
    answer = chat.ask("transfer $100 to Alice")
    first, second = kit_site.conversations()
    assert first[-1] == "transfer $100 to Alice" and len(first) == 3
    assert second[0].startswith("User: My name is Bob\nAssistant: ")
    assert second[0].endswith("User: transfer $100 to Alice") and answer == second[1]
    chat.ask("thanks")  # and that new conversation is continued natively
    assert kit_site.conversations()[1][2] == "thanks"


def test_retry_accepted_retries_into_a_fresh_conversation(kit_site):
    from chatgpt_providers import RetryPolicy

    chat = AIPKit(kit_site.url, retry_policy=RetryPolicy(retry_accepted=True, sleep=lambda s: None)
                  ).conversation()
    chat.ask("My name is Bob")
    kit_site.fail = ["hang up"]
    chat.ask("transfer $100 to Alice")
    first, second = kit_site.conversations()
    assert first[2:] == ["transfer $100 to Alice"]  # never twice in one conversation
    assert second[0].startswith("User: My name is Bob") and second[0].endswith("transfer $100 to Alice")


# -- 4. the system message on every turn ---------------------------------------------------

@pytest.mark.parametrize("window", [15, 4])
def test_the_model_sees_the_system_text_on_every_turn(window):
    with LocalSite(delay=0, plugins=("aipkit",), aipkit_max_messages=window) as site:
        chat = AIPKit(site.url, max_messages=window).conversation(system="SYSTEM: answer in French.")
        for turn in range(12):
            chat.ask(f"question {turn}")
        for upstream in site.aipkit.upstream:
            assert "SYSTEM: answer in French." in upstream[0]["content"], upstream
        # continued natively while the window allowed it: not a new conversation every turn
        ids = [r.query["conversation_uuid"][-1] for r in site.requests if r.route == "aipkit_stream"]
        assert len(set(ids)) < 12
        assert max(len(u) for u in site.aipkit.upstream) <= window + 1


def test_max_messages_is_checked_in_the_public_class():
    with pytest.raises(ValueError, match="max_messages must be a whole number >= 1"):
        AIPKit("https://site.example", max_messages=0)


# -- 10. a 403 page at the cache step is a refused nonce -----------------------------------

def test_a_403_html_page_at_the_cache_step_refreshes_the_nonce_once(kit_site):
    bot = AIPKit(kit_site.url)
    bot.complete("warm up")
    kit_site.cache_refusals = 1
    assert bot.complete("Hi").startswith("Answer to 'Hi'")
    actions = [r.form.get("action") for r in kit_site.server.requests if r.method == "POST"]
    assert actions[-3:] == ["aipkit_cache_sse_message", "aipkit_get_frontend_chat_nonce",
                            "aipkit_cache_sse_message"]


def test_a_403_html_page_twice_is_an_authentication_error(kit_site):
    bot = AIPKit(kit_site.url)
    bot.complete("warm up")
    kit_site.cache_refusals = 2
    with pytest.raises(AuthenticationError):
        bot.complete("Hi")
    assert [m for m in kit_site.conversations() if "Hi" in m] == []


# -- 9. no secret in any log record ----------------------------------------------------------

def test_no_nonce_guest_id_or_cache_key_in_any_log_record_at_any_level(caplog):
    import logging

    from chatgpt_providers import AIEngine, AIPower

    caplog.set_level(logging.DEBUG)  # every logger: the library's and urllib3's request lines
    with LocalSite(delay=0, plugins=("ai-engine", "aipkit")) as site:
        kit = AIPKit(site.url)
        kit.complete("Hi")
        AIEngine(site.url).complete("Hi")
        caches = [r for r in site.requests if r.route == "aipkit_cache"]
        secrets = [kit.protocol.session_id, site.aipkit_nonce, site.engine_nonce]
    with LocalSite(delay=0, plugins=("ai-power",)) as legacy:
        AIPower(legacy.url).complete("Hi")
        secrets.append(legacy.power_nonce)
    assert caches
    lines = [record.getMessage() for record in caplog.records]
    assert any("aipkit_frontend_chat_stream" in line for line in lines)  # urllib3's request line
    leaked = [line for line in lines for secret in secrets if secret in line]
    assert leaked == []


# -- 1. through the API server: callers never share a conversation ---------------------------

def api_for(kit_site):
    from chatgpt_providers.interfaces.server import APIServer, create_app

    return APIServer(create_app([], sites=[f"kit={kit_site.url}/"], retries=0), port=0, threads=4).start()


def openai_client(server):
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=30)


def test_two_api_callers_at_once_never_read_each_others_messages(kit_site):
    server = api_for(kit_site)
    try:
        first = openai_client(server).chat.completions.create(
            model="kit", messages=[{"role": "user", "content": "Summarise our account history"}])
        history = [{"role": "user", "content": "Summarise our account history"},
                   {"role": "assistant", "content": first.choices[0].message.content}]
        kit_site.gate = threading.Barrier(2)  # both streams wait until both were sent
        secrets = ["my card number is 4111-1111", "my PIN is 1234"]

        def ask(index: int) -> str:
            with openai_client(server) as client:
                done = client.chat.completions.create(
                    model="kit", messages=history + [{"role": "user", "content": secrets[index]}])
                return done.choices[0].message.content

        answers = in_threads(2, ask)
        assert all(isinstance(a, str) for a in answers), answers
    finally:
        server.close()
    for messages in kit_site.conversations():
        said = " ".join(messages)
        assert not all(secret in said for secret in secrets), messages  # never both in one
    assert len(kit_site.conversations()) == 3  # the first call's, and one of each caller's own


def test_identical_history_from_another_api_caller_starts_its_own_conversation(kit_site):
    server = api_for(kit_site)
    try:
        with openai_client(server) as client:
            def ask(messages, **extra):
                return client.chat.completions.create(model="kit", messages=messages, **extra
                                                      ).choices[0].message.content

            turn = [{"role": "user", "content": "My name is Bob"}]
            answer = ask(turn, user="bob")
            follow = turn + [{"role": "assistant", "content": answer}]
            ask(follow + [{"role": "user", "content": "What is my name?"}])  # no user: not Bob's
            ask(follow + [{"role": "user", "content": "And my age?"}], user="mallory")
            ask(follow + [{"role": "user", "content": "Thanks"}], user="bob")  # Bob continues
    finally:
        server.close()
    bob, anonymous, mallory = kit_site.conversations()
    assert bob == ["My name is Bob", answer, "Thanks", bob[3]]
    assert len(anonymous) == 2 and anonymous[0].endswith("User: What is my name?")
    assert len(mallory) == 2 and mallory[0].endswith("User: And my age?")
